"""Whole-field reader: a CNN + BiLSTM over a field's columns, trained with CTC, decoded by beam search."""
