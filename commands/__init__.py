"""What members and moderators type: one module per area, one declaration per command."""
