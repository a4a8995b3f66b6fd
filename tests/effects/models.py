from django.db import models


class Effect(models.Model):
    """One row per handled message: counting rows per message id shows double effects
    (deliberately no unique constraint, which would hide them)."""

    label = models.CharField(max_length=100)
    key = models.CharField(max_length=200)
    value = models.IntegerField(default=0)
    message_id = models.UUIDField(null=True)

    class Meta:
        db_table = "effects_effect"

    def __str__(self) -> str:
        return f"{self.label} {self.key}={self.value}"


class TallyView(models.Model):
    """A read model of the platform's test aggregate (events.tests.support.tally)."""

    tally_id = models.UUIDField(primary_key=True)
    total = models.IntegerField()
    count = models.IntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "effects_tally_view"

    def __str__(self) -> str:
        return f"{self.tally_id}: {self.total}"
