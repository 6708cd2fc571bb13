"""What keyworker tells the outside world: outbound events and their delivery."""
