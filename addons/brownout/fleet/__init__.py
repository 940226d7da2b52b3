"""A fleet of replicas sharing one state on Redis (`--redis URL`): the link, the shared switches
and uploads, the timeline's start, the counters and buckets. Imports redis, never mitmproxy."""
