"""CSV import through the API and the CLI: whole-file check, every bad row, one transaction."""
import pytest
from support.dbstate import snapshot, stock_and_ledger

from sweetshop import catalog

HEADER = b"name,category,price,quantity\r\n"


def post_csv(client, api, body, dry_run=None, content_type="text/csv"):
    path = "/api/sweets/import" + ("" if dry_run is None else f"?dry_run={dry_run}")
    return client.post(path, data=body, headers={**api.admin, "Content-Type": content_type})


def sweets(app):
    with app.app_context():
        return {(s.name, s.category, str(s.price), s.quantity) for s in catalog.all_sweets()}


RESTOCK_HEADER = b"name,category,price,quantity,restock\r\n"


def test_import_creates_and_restocks_in_one_go(app, client, api):
    fudge = api.sweet("Fudge", "Fudge", 2.5, 10)["id"]
    body = RESTOCK_HEADER + b"FUDGE,Toffee,2.75,,5\r\nSherbet Lemon,Candy,0.45,200\r\n\r\n"
    preview = post_csv(client, api, body, dry_run=1)
    assert preview.status_code == 200
    assert preview.json == {"created": 1, "updated": 1, "restocked_units": 5, "applied": False}
    assert sweets(app) == {("Fudge", "Fudge", "2.50", 10)}
    response = post_csv(client, api, body)
    assert response.status_code == 200
    assert response.json == {"created": 1, "updated": 1, "restocked_units": 5, "applied": True}
    # Matched without regard to case: the name stays as it was, category and price change.
    assert sweets(app) == {("Fudge", "Toffee", "2.75", 15), ("Sherbet Lemon", "Candy", "0.45", 200)}
    assert stock_and_ledger(app, fudge)[:2] == (15, 15)
    with app.app_context():
        lemon = catalog.search_sweets(name="Sherbet")[0].id
    assert stock_and_ledger(app, lemon) == (200, 200, 1)


def test_an_exported_catalogue_imports_back_unchanged(app, client, api):
    api.sweet("=SUM(A1)", "@risk", 1.2, 3)
    api.sweet("Mint", "-Mints", 0.4, 0)
    before = snapshot(app)
    exported = client.get("/api/export/sweets.csv", headers=api.admin).data
    assert b"'=SUM(A1)" in exported and b"'@risk" in exported
    assert exported.splitlines()[0] == b"name,category,price,quantity,restock"
    for dry_run in (1, None):
        response = post_csv(client, api, exported, dry_run)
        assert response.json == {"created": 0, "updated": 0, "restocked_units": 0,
                                 "applied": dry_run is None}
    assert snapshot(app) == before  # no stock, no ledger row, not even an updated_at


def test_a_round_trip_keeps_a_stock_above_the_bound_of_a_quantity_cell(app, client, api):
    """A sweet restocked past a new sweet's initial-stock bound exports a quantity that an import of
    a new sweet would refuse; on an existing sweet it is only compared, so the file imports back."""
    fudge = api.sweet("Fudge", quantity=1_000_000)["id"]
    assert client.post(f"/api/sweets/{fudge}/restock", json={"quantity": 500_000},
                       headers=api.admin).status_code == 200
    before = snapshot(app)
    exported = client.get("/api/export/sweets.csv", headers=api.admin).data
    assert b"Fudge,Fudge,2.50,1500000,\r\n" in exported
    response = post_csv(client, api, exported)
    assert response.status_code == 200, response.json
    assert response.json == {"created": 0, "updated": 0, "restocked_units": 0, "applied": True}
    assert snapshot(app) == before
    # The bound still holds for a new sweet's initial stock.
    response = post_csv(client, api, HEADER + b"Mint,Mints,1,1500000\n")
    assert response.status_code == 422 and response.json["rows"][0]["field"] == "quantity"


def test_quantity_never_changes_an_existing_sweets_stock_only_restock_does(app, client, api):
    fudge = api.sweet("Fudge", "Fudge", 2.5, 40)["id"]
    # An old export says 40; two sold since. Its price edited, and a delivery of 12.
    bought = client.post(f"/api/sweets/{fudge}/purchase", json={"quantity": 2}, headers=api.user("bob"))
    assert bought.status_code == 200
    body = RESTOCK_HEADER + b"Fudge,Fudge,2.60,40,\r\n"
    assert post_csv(client, api, body).json == {"created": 0, "updated": 1, "restocked_units": 0,
                                                "applied": True}
    assert stock_and_ledger(app, fudge)[:2] == (38, 38)
    assert sweets(app) == {("Fudge", "Fudge", "2.60", 38)}
    body = RESTOCK_HEADER + b"Fudge,Fudge,2.60,40,12\r\n"
    assert post_csv(client, api, body).json["restocked_units"] == 12
    assert stock_and_ledger(app, fudge) == (50, 50, 3)  # initial, purchase, restock of 12
    # A new sweet: quantity is its initial stock, restock comes on top.
    post_csv(client, api, RESTOCK_HEADER + b"Mint,Mints,0.40,10,5\r\n")
    assert ("Mint", "Mints", "0.40", 15) in sweets(app)


def test_columns_are_found_by_name_and_a_category_takes_the_spelling_on_sale(app, client, api):
    api.sweet("Fudge", "Toffee", 2.5, 4)
    body = b"Price,Name,Category,Restock\r\n1.50,Mint,toffee,3\r\n2.50,Fudge,TOFFEE,\r\n"
    response = post_csv(client, api, body)
    assert response.json == {"created": 1, "updated": 0, "restocked_units": 3, "applied": True}
    assert sweets(app) == {("Fudge", "Toffee", "2.50", 4), ("Mint", "Toffee", "1.50", 3)}


BAD_FILES = {
    "empty": (b"", [(1, None, "empty")]),
    "header only": (HEADER, [(1, None, "no rows")]),
    "missing header": (b"Fudge,Fudge,2.50,3\n", [(1, None, "header")]),
    "wrong header": (b"name,cost,category,quantity\nFudge,2.50,Fudge,3\n", [(1, None, "price missing")]),
    "a column twice": (b"name,category,price,restock,restock\nFudge,Fudge,2.50,1,1\n",
                       [(1, None, "restock more than once")]),
    "semicolons": (b"name;category;price;quantity\nFudge;Fudge;2.50;3\n", [(1, None, "semicolons")]),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", [(1, None, "binary")]),
    "latin-1": (HEADER + b"Cr\xe8me,Fudge,2.50,3\n", [(2, None, "UTF-8")]),
    "three decimals": (HEADER + b"Fudge,Fudge,2.505,3\n", [(2, "price", "2 decimal places")]),
    "negative quantity": (HEADER + b"Fudge,Fudge,2.50,-3\n", [(2, "quantity", "between 0 and")]),
    "huge quantity": (HEADER + b"Fudge,Fudge,2.50,99999999999999999999\n", [(2, "quantity", "whole number")]),
    "quoted newline": (HEADER + b'"Fud\nge",Fudge,2.50,3\n', [(2, "name", "control characters")]),
    "unclosed quote": (HEADER + b'"Fudge,Fudge,2.50,3\n', [(2, None, "not valid CSV")]),
    "short row": (HEADER + b"Fudge,Fudge\n", [(2, None, "Expected at least 3 values")]),
    "bad restock": (RESTOCK_HEADER + b"Fudge,Fudge,2.50,,-1\n", [(2, "restock", "between 0 and")]),
    "duplicates in any case": (HEADER + b"Fudge,Fudge,2.50,3\nMint,Mints,1,1\nfUDGE,Fudge,2.50,3\n",
                               [(4, "name", "same name as line 2")]),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_get_every_problem_and_change_nothing(app, client, api, case):
    fudge = api.sweet("Fudge", quantity=7)["id"]
    before = snapshot(app)
    body, expected = BAD_FILES[case]
    for dry_run in (None, 1):
        response = post_csv(client, api, body, dry_run)
        assert response.status_code == 422, response.json
        assert response.json["detail"].startswith("The file was not imported")
        rows = response.json["rows"]
        assert [(row["line"], row["field"]) for row in rows] == [(line, f) for line, f, _ in expected]
        for row, (_, _, words) in zip(rows, expected):
            assert words in row["message"]
    assert snapshot(app) == before and stock_and_ledger(app, fudge)[:2] == (7, 7)


def test_every_bad_row_is_listed_by_line_and_field(app, client, api):
    body = (HEADER + b"Good,Fudge,1.00,1\n,Fudge,1.00,1\nBad price,Fudge,abc,1\n\n"
            b"Two bad,,0,1.5\n")
    api.admin
    before = snapshot(app)
    response = post_csv(client, api, body)
    assert response.status_code == 422
    assert [(r["line"], r["field"]) for r in response.json["rows"]] == [
        (3, "name"), (4, "price"), (6, "category"), (6, "price"), (6, "quantity")]
    assert snapshot(app) == before


def test_a_byte_order_mark_is_accepted(app, client, api):
    response = post_csv(client, api, b"\xef\xbb\xbf" + HEADER + b"Fudge,Fudge,2.50,3\n")
    assert response.status_code == 200 and response.json["created"] == 1


def test_too_many_rows_and_too_large_files_are_refused(app, client, api):
    app.config["IMPORT_MAX_ROWS"] = 3
    api.admin
    before = snapshot(app)
    body = HEADER + b"".join(b"S%d,C,1,1\n" % n for n in range(4))
    response = post_csv(client, api, body)
    assert response.status_code == 422 and "more than 3 rows" in response.json["rows"][0]["message"]
    ten_mb = HEADER + b"x" * (10 * 1024 * 1024)
    response = post_csv(client, api, ten_mb)
    assert response.status_code == 413 and "limited to" in response.json["detail"]
    assert snapshot(app) == before


def test_import_needs_an_admin_and_a_csv_body(app, client, api):
    assert client.post("/api/sweets/import", data=HEADER, content_type="text/csv").status_code == 401
    customer = {**api.user("carol"), "Content-Type": "text/csv"}
    assert client.post("/api/sweets/import", data=HEADER, headers=customer).status_code == 403
    response = post_csv(client, api, HEADER + b"Fudge,Fudge,1,1\n", content_type="application/json")
    assert response.status_code == 415 and "text/csv" in response.json["detail"]
    assert post_csv(client, api, HEADER + b"Fudge,Fudge,1,1\n", dry_run="maybe").status_code == 422
    assert sweets(app) == set()


def test_cli_import_and_dry_run(app, runner, tmp_path):
    path = tmp_path / "delivery.csv"
    path.write_bytes(HEADER + b"Fudge,Fudge,2.50,3\nMint,Mints,0.40,9\n")
    result = runner.invoke(args=["import-sweets", str(path), "--dry-run"])
    assert result.exit_code == 0
    assert "would apply 2 new sweets, 0 updated, 0 unchanged (+0 units)" in result.output
    assert sweets(app) == set()
    result = runner.invoke(args=["import-sweets", str(path)])
    assert result.exit_code == 0 and "Imported 2 new sweets" in result.output
    assert sweets(app) == {("Fudge", "Fudge", "2.50", 3), ("Mint", "Mints", "0.40", 9)}
    path.write_bytes(HEADER + b"Fudge,Fudge,2.505,3\n")
    result = runner.invoke(args=["import-sweets", str(path)])
    assert result.exit_code == 1 and "line 2, price: Must have at most 2 decimal places." in result.output


def test_cli_says_where_a_quantity_differs_and_counts_in_the_singular(app, runner, api, tmp_path):
    api.sweet("Fudge", "Fudge", 2.5, 7)
    path = tmp_path / "old-export.csv"
    path.write_bytes(RESTOCK_HEADER + b"Fudge,Fudge,2.50,40,\r\nMint,Mints,0.40,9,1\r\n")
    result = runner.invoke(args=["import-sweets", str(path)])
    assert result.exit_code == 0, result.output
    assert "line 2: Fudge has 7 in stock, the file says 40; the stock stays" in result.output
    assert "Imported 1 new sweet, 0 updated, 1 unchanged (+1 unit)." in result.output
    assert ("Fudge", "Fudge", "2.50", 7) in sweets(app) and ("Mint", "Mints", "0.40", 10) in sweets(app)


def test_an_api_import_with_an_idempotency_key_is_applied_once(app, client, api):
    fudge = api.sweet("Fudge", quantity=56)["id"]
    body = RESTOCK_HEADER + b"Fudge,Fudge,2.50,,1\r\n"
    headers = {**api.admin, "Content-Type": "text/csv", "Idempotency-Key": "delivery-0412"}
    first = client.post("/api/sweets/import", data=body, headers=headers)
    assert first.json == {"created": 0, "updated": 1, "restocked_units": 1, "applied": True}
    before = snapshot(app)
    again = client.post("/api/sweets/import", data=body, headers=headers)
    assert again.status_code == 409 and again.json["first"] == {"created": 0, "updated": 1,
                                                                "restocked_units": 1}
    assert snapshot(app) == before and stock_and_ledger(app, fudge)[:2] == (57, 57)
    # Another key is another delivery; a dry run claims nothing.
    dry = client.post("/api/sweets/import?dry_run=1", data=body, headers={**headers, "Idempotency-Key": "x"})
    assert dry.status_code == 200 and dry.json["applied"] is False
    other = client.post("/api/sweets/import", data=body, headers={**headers, "Idempotency-Key": "x"})
    assert other.status_code == 200 and stock_and_ledger(app, fudge)[:2] == (58, 58)
