"""Reading raw review trees, cleaning text and writing the processed dataset."""
