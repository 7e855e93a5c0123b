"""Property: a batch with one broken item is always refused with a pointer to that
item and field, and nothing of the batch is stored."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import Consent, InboundEvent, Interaction, Transaction
from tests.customers.events.conftest import URL, consent_event, interaction_event, transaction_event

pytestmark = pytest.mark.django_db

VALID = [transaction_event(1), interaction_event(2), consent_event(3), transaction_event(4)]
# Values of the wrong JSON type for every field checked here (strings where a
# string is expected are covered by the choice and length tests).
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)
FIELDS = {
    "transaction": ["transaction_id", "account_id", "amount", "currency", "category", "channel"],
    "interaction": ["channel", "event_type"],
    "consent": ["channel", "purpose", "status"],
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(min_value=0, max_value=len(VALID) - 1), field_pick=st.integers(min_value=0), value=WRONG)
def test_one_wrong_field_anywhere_rejects_the_whole_batch_naming_it(mobile_app, bank, index, field_pick, value):
    events = copy.deepcopy(VALID)
    fields = FIELDS[events[index]["type"]]
    field = fields[field_pick % len(fields)]
    events[index]["data"][field] = value
    response = mobile_app.api().post(URL, {"events": events}, format="json")
    assert response.status_code == 400
    pointers = [e["pointer"] for e in response.json()["errors"]]
    assert pointers == [f"#/events/{index}/data/{field}"]
    assert not InboundEvent.objects.exists()
    assert Transaction.objects.count() == Interaction.objects.count() == Consent.objects.count() == 0
