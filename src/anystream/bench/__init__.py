"""``anystream bench``: HTTP latency while the broker consumes, side by side.

- :mod:`.stats`: a log-bucketed latency histogram (sans-IO).
- :mod:`.loadgen`: an open-loop HTTP/1.1 load generator (its own process).
- :mod:`.publisher`: a NATS publisher at a fixed rate or flat out (its own process).
- :mod:`.sample_app`: the app under test (anystream, faststream's baseline, bare ASGI).
- :mod:`.driver`: plans and runs targets x rates, collects every figure;
  :mod:`.processes`: the server and helper processes, ``/proc``;
  :mod:`.report` prints the table and writes the JSON and the plot.
"""
