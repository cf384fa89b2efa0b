"""Stock count: a compare-and-set with a 'count' ledger row; 409 when the stock moved."""
import pytest
from support.dbstate import snapshot, stock_and_ledger


def count(client, api, sweet_id, body):
    return client.post(f"/api/sweets/{sweet_id}/count", headers=api.admin, json=body)


def test_a_count_sets_the_stock_and_records_the_difference(app, client, api):
    fudge = api.sweet(quantity=10)["id"]
    response = count(client, api, fudge, {"counted": 7, "seen": 10})
    assert response.status_code == 200 and response.json["quantity"] == 7
    assert stock_and_ledger(app, fudge) == (7, 7, 2)
    assert count(client, api, fudge, {"counted": 9, "seen": 7}).json["quantity"] == 9
    assert stock_and_ledger(app, fudge) == (9, 9, 3)


def test_a_count_after_the_stock_moved_is_a_409_and_changes_nothing(app, client, api):
    fudge = api.sweet(quantity=10)["id"]
    client.post(f"/api/sweets/{fudge}/purchase", headers=api.user("carol"), json={"quantity": 3})
    before = snapshot(app)
    response = count(client, api, fudge, {"counted": 8, "seen": 10})
    assert response.status_code == 409
    assert response.json == {"detail": "Stock changed", "quantity": 7}
    assert snapshot(app) == before


@pytest.mark.parametrize("body", [{}, {"counted": 1}, {"seen": 1}, {"counted": -1, "seen": 10},
                                  {"counted": 1_000_001, "seen": 10}, {"counted": 1.5, "seen": 10},
                                  {"counted": "5", "seen": 10}, {"counted": True, "seen": 10},
                                  {"counted": 5, "seen": 10, "extra": 1}, [5, 10]])
def test_bad_counts_are_a_422(app, client, api, body):
    fudge = api.sweet(quantity=10)["id"]
    before = snapshot(app)
    assert count(client, api, fudge, body).status_code == 422
    assert snapshot(app) == before


def test_counts_need_an_admin_and_a_sweet_on_sale(app, client, api):
    fudge = api.sweet(quantity=10)["id"]
    assert client.post(f"/api/sweets/{fudge}/count", json={"counted": 1, "seen": 10}).status_code == 401
    assert client.post(f"/api/sweets/{fudge}/count", headers=api.user("carol"),
                       json={"counted": 1, "seen": 10}).status_code == 403
    assert count(client, api, 999, {"counted": 1, "seen": 10}).status_code == 404
    client.delete(f"/api/sweets/{fudge}", headers=api.admin)
    assert count(client, api, fudge, {"counted": 1, "seen": 10}).status_code == 404
    assert stock_and_ledger(app, fudge) == (10, 10, 1)
