"""What the bot says, as Jinja2 templates; a package only so installs carry it as chatbridge.templates."""
