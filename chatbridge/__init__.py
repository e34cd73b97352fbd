"""chatbridge: a forum layer for medical chat communities on Discord and Matrix."""
