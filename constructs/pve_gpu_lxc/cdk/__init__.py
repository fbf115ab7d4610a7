"""The cdktf layer: constructs that map the model to L1 resources."""
