"""Content faults: a 200 whose answer is wrong (empty, cut, refused, filtered, bad JSON, a bad tool
call, wrong usage figures), made from the upstream's real answer in each provider's own framing,
whole bodies and event streams alike. `base` is what they share, `framing` each provider's wire."""
