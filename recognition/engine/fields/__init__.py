"""Field stage: cut each field of an aligned page into characters, apply field rules, and read whole forms."""
