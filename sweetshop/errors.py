"""The domain's error types; the web layers turn each into a response."""


class SweetshopError(Exception):
    """Base of every domain error; ``status`` is the HTTP status it maps to."""

    status = 400

    def __init__(self, message=None):
        super().__init__(message or self.message)

    message = "Bad request"

    @property
    def detail(self):
        return str(self)

    def extra(self):
        """More members of the JSON error body besides ``detail`` (and ``errors``)."""
        return {}


class ValidationError(SweetshopError):
    """Input broke a rule; ``errors`` maps each field to its messages."""

    status = 422
    message = "Validation failed"

    def __init__(self, errors, message=None):
        super().__init__(message)
        self.errors = errors


class NotFoundError(SweetshopError):
    status = 404
    message = "Not found"


class SweetNotFoundError(NotFoundError):
    message = "Sweet not found"


class OutOfStockError(SweetshopError):
    """Not enough units left; ``available`` says how many there are."""

    def __init__(self, available):
        super().__init__("Out of stock" if available == 0 else "Insufficient stock")
        self.available = available


class StockLimitError(SweetshopError):
    status = 422
    message = "Restock would take the stock above its maximum"


class IdempotencyKeyReusedError(SweetshopError):
    status = 422
    message = "Idempotency-Key was already used with a different sweet or quantity"


class UsernameTakenError(SweetshopError):
    message = "Username already registered"


class SweetNameTakenError(ValidationError):
    """A sweet on sale already has this name (in any case)."""

    def __init__(self):
        super().__init__({"name": ["A sweet on sale already has this name."]},
                         "A sweet on sale already has this name")


class OrderShortError(SweetshopError):
    """Some lines of an order asked for more than there is; nothing was sold.

    ``shortages`` lists every short line: ``{"sweet_id", "requested", "available"}``.
    """

    message = "Insufficient stock"

    def __init__(self, shortages):
        super().__init__()
        self.shortages = shortages

    def extra(self):
        return {"shortages": self.shortages}


class OrderSweetsMissingError(SweetNotFoundError):
    """Some sweets of an order are not on sale; ``missing`` lists their ids. Nothing was sold."""

    def __init__(self, missing):
        super().__init__()
        self.missing = missing

    def extra(self):
        return {"missing": self.missing}


class OrderNotFoundError(NotFoundError):
    message = "Order not found"


class CancelWindowClosedError(SweetshopError):
    status = 403
    message = "The time to cancel this order has passed"


class OrderStepRefusedError(SweetshopError):
    """An order's step asked of an order in another state; ``order_status`` is its state now."""

    status = 409

    def __init__(self, order_status):
        super().__init__()
        self.order_status = order_status

    def extra(self):
        return {"status": self.order_status}


class OrderAlreadyCancelledError(OrderStepRefusedError):
    message = "Order already cancelled"

    def __init__(self):
        super().__init__("cancelled")


class OrderAlreadyCollectedError(OrderStepRefusedError):
    message = "Order already collected"

    def __init__(self):
        super().__init__("collected")


class OrderNotPlacedError(OrderStepRefusedError):
    message = "Order is not placed"


class OrderNotCollectableError(OrderStepRefusedError):
    message = "Order cannot be collected"


class OrderKeyReusedError(IdempotencyKeyReusedError):
    message = "Idempotency-Key was already used with different items"


class WrongPasswordError(SweetshopError):
    """The current password given to change it was wrong."""

    status = 422
    message = "That is not your current password"


class BadPhotoError(ValidationError):
    """An upload that is not a usable JPEG, PNG or WebP image; ``detail`` says why."""

    def __init__(self, message):
        super().__init__({"photo": [message]}, message)


class UserNotFoundError(NotFoundError):
    message = "User not found"


class AdminRevokeError(SweetshopError):
    """Revoking would leave the shop without the admin who asked (themself, or lost a race)."""

    status = 409


class StockChangedError(SweetshopError):
    """A stock count's ``seen`` figure is no longer the stock; ``quantity`` is the current one."""

    status = 409
    message = "Stock changed"

    def __init__(self, quantity):
        super().__init__()
        self.quantity = quantity

    def extra(self):
        return {"quantity": self.quantity}


class ImportRejectedError(SweetshopError):
    """A CSV import that cannot be applied; ``rows`` lists every problem as
    ``{"line", "field", "message"}`` (the header is line 1; ``field`` is None for a whole line)."""

    status = 422

    def __init__(self, rows, message="The file was not imported: nothing changed"):
        super().__init__(message)
        self.rows = rows

    def extra(self):
        return {"rows": self.rows}


class ImportAlreadyAppliedError(SweetshopError):
    """This import preview was applied already (a double click, a resubmitted form, a second tab):
    nothing changed this time. ``receipt`` is what the first confirm did."""

    status = 409
    message = "This import was applied already; nothing changed this time"

    def __init__(self, receipt=None):
        super().__init__()
        self.receipt = receipt

    def extra(self):
        if self.receipt is None:
            return {}
        return {"first": {"created": self.receipt.created, "updated": self.receipt.updated,
                          "restocked_units": self.receipt.restocked_units}}


class EmailTakenError(SweetshopError):
    message = "Email already registered"


class InvalidLinkError(SweetshopError):
    """A mailed link (verification or password reset) that is unknown, used, expired, or no
    longer for this account's address or password."""

    message = "Invalid or expired link"


class MailNotFoundError(NotFoundError):
    message = "Mail not found"


class MailNotFailedError(SweetshopError):
    """Only a failed mail can be sent again; ``status`` is its state now."""

    status = 409
    message = "Mail has not failed"

    def __init__(self, status):
        super().__init__()
        self.current = status

    def extra(self):
        return {"status": self.current}
