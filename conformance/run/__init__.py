"""The run: which clusters are judged against which profiles, their collected states, the checks' records and
the one verdict (conformance.run.session.ConformanceRun), published as a RunResult for the outputs."""
