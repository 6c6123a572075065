"""Page stage: load uploaded files as grayscale pages, clean them up, align them to parsed templates."""
