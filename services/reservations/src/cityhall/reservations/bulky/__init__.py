"""Bulky-waste pickup (粗大ごみ): items from a price list, the district's pickup day, the fee paid
through the payment port, a 受付番号 for the 処理券, and a refund when cancelled before the cutoff.

The pickup day is a slot of the district's resource in the catalogue (category `bulky`), booked
with the slot's own decider, so a day's seats are never given twice. What the booking costs and
whether it is paid is the pickup's own stream (`bulky-<booking id>`, domain.py), written in the
same transaction as the seat. Pure: prices.py (the price list), domain.py (the pickup's decider),
dialog.py, messages.py; I/O: handlers.py; read model: projections.py.
"""
