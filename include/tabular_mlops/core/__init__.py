"""The ground floor every stage shares: config, naming contracts, atomic files, secret rules."""
