"""Bank cheques: the amount in words, the date window and the MICR line."""
