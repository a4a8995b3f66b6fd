"""Messages, aggregates, projections and saga parts that the platform's tests declare
(``messages``, ``tally``, ``tally_view``, ``saga_parts``)."""
