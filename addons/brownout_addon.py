"""brownout for your own mitmproxy: `mitmdump -s addons/brownout_addon.py --set brownout_scenarios=NAME`.

mitmproxy puts this file's folder on sys.path, so the `brownout` package beside it imports.
"""

from brownout.hooks.bundle import Bundle

addons = [Bundle()]
