"""The demo room: a traffic model with ground truth, the simulated history, the live demo.

``traffic`` (pure) plans visits and calls; ``pool_run`` (pure) plays a plan against a
number pool and credits the calls; ``truth`` (pure) scores credits against the plan;
``history`` writes a played plan through the call store; ``live`` drives the real
tracking API and the AMI simulator in real time; ``catalog`` and ``landing`` set up and
serve the demo site; ``runtime`` composes them for ``callpool demo``.
"""
