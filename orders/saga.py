"""The order's fulfilment: reserve stock, charge, create the shipment, then confirm;
on any failure (or a step past its deadline) undo the finished steps in reverse order
and reject the order with the reason. A customer's cancellation (OrderCancelled, which
the Order accepts until it has shipped) undoes every step done or in flight: the
shipment is cancelled, the payment refunded, the stock released. Declared, not coded:
the platform runs it."""

from datetime import timedelta

from events import Saga, Step, saga
from inventory.contracts import (
    InventoryReleased,
    InventoryReserved,
    InventoryShort,
    ReleaseInventory,
    ReserveInventory,
)
from payments.contracts import (
    ChargePayment,
    PaymentDeclined,
    PaymentRefunded,
    PaymentSucceeded,
    RefundPayment,
)
from shipping.contracts import (
    CancelShipment,
    CreateShipment,
    ShipmentCancelled,
    ShipmentCreated,
    ShipmentRejected,
)

from .contracts import ConfirmOrder, OrderCancelled, OrderPlaced, RejectOrder


@saga
class OrderFulfilment(Saga):
    name = "orders.fulfilment"
    started_by = OrderPlaced
    correlate_on = "order_id"
    steps = (
        Step(
            send=ReserveInventory,
            title="the stock service",
            done=InventoryReserved,
            failed=(InventoryShort,),
            undo=ReleaseInventory,
            undone=InventoryReleased,
            within=timedelta(minutes=2),
        ),
        Step(
            send=ChargePayment,
            title="the payment service",
            done=PaymentSucceeded,
            failed=(PaymentDeclined,),
            undo=RefundPayment,
            undone=PaymentRefunded,
            within=timedelta(minutes=5),
        ),
        Step(
            send=CreateShipment,
            title="the shipping service",
            done=ShipmentCreated,
            failed=(ShipmentRejected,),
            undo=CancelShipment,
            undone=ShipmentCancelled,
            within=timedelta(hours=1),
        ),
    )
    on_completed, on_compensated = ConfirmOrder, RejectOrder
    cancelled_by = OrderCancelled


CHARGE = next(s for s in OrderFulfilment.steps if s.send is ChargePayment)
# the reason codes of a rejection whose charge got no answer: no decline, no payment
CHARGE_GOT_NO_ANSWER = frozenset({f"{CHARGE.code}_failed", f"{CHARGE.code}_timed_out"})
