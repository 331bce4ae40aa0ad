"""The robot bridge: an authenticated, deadline-driven, fail-safe link between a policy and a robot.

Modules, from the wire up: ``protocol`` (frames, keys, message checks), ``channel`` (the HMAC handshake and
sealed, sequenced frames), ``safety`` (clipping, rate limits, joint limits), ``control`` (the robot's fixed-period
loop, watchdog and emergency stop), ``server`` (authentication and routing on the robot's side), ``emulation``
(latency, jitter and loss), ``loopback`` (a simulated robot behind the real server), ``client`` and ``env`` (the
``dreamgym/<Task>-robot-v0`` Gymnasium env), ``registration``. The protocol is documented in ``docs/robots.md``.
"""
