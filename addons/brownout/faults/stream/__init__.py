"""Stream faults: each one a plan (`plan.StreamPlan`) that the Streams hook relays an event stream
through. `plan` is the protocol between faults and the relay; `base` what every stream fault shares."""
