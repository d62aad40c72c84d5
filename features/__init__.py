"""Early-horizon features of fed-batch runs, standing on the data contract (features.contract)."""
