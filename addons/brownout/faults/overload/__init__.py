"""The `overload` fault: a provider's capacity (`capacity`, the pure model of load and what happens
above it) and the fault that answers as the provider does when it is over (`fault`)."""
