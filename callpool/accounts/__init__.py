"""Who may do what: users, password hashes and API tokens."""
