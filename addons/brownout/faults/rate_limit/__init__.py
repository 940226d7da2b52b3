"""The `rate_limit` fault: the fault (`fault`), its token buckets (`buckets`), and how tokens are
counted from requests and answers (`usage`). The provider's rate-limit headers and 429s are in
`brownout.providers.rate_limits`."""
