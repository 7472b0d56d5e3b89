"""Generated protocol buffer code (run `make proto` to rebuild from proto/)."""
