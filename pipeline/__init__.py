"""Data plumbing, no model code: raw videos → WebDataset shards → training clips."""
