"""clarion.v1: generated from proto/clarion/v1/*.proto; never edited by hand."""
