"""The sagas wing: orchestrated sagas, declared rather than hand-coded.

Owns: ``declaration`` (``Saga``, ``Step``, building a step's command from the saga's
state, checked when declared), ``transitions`` (the ``sagas.*`` events), ``engine``
(the reactions that move an instance), ``registry`` (``@saga``: subscribing a
declaration), ``deadlines`` (steps past their deadline), ``staff`` (retry and resolve
by hand), ``ended`` (commands parked by a saga that has since ended) and ``alerts`` (a
saga that needs a person).

May import: ``events.delivery``, ``events.commands``, ``events.log`` and the ground
floor.
"""
