"""CSV import (SPEC 8) through the API and the CLI: whole-file check, every bad row, one transaction."""
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


def test_import_creates_and_restocks_in_one_go(app, client, api):
    fudge = api.sweet("Fudge", "Fudge", 2.5, 10)["id"]
    body = HEADER + b"FUDGE,Toffee,2.75,5\r\nSherbet Lemon,Candy,0.45,200\r\n\r\n"
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
    before = sweets(app)
    exported = client.get("/api/export/sweets.csv", headers=api.admin).data
    assert b"'=SUM(A1)" in exported and b"'@risk" in exported
    response = post_csv(client, api, exported)
    assert response.json == {"created": 0, "updated": 2, "restocked_units": 3, "applied": True}
    assert {(n, c, p) for n, c, p, _ in sweets(app)} == {(n, c, p) for n, c, p, _ in before}


BAD_FILES = {
    "empty": (b"", [(1, None, "empty")]),
    "header only": (HEADER, [(1, None, "no rows")]),
    "missing header": (b"Fudge,Fudge,2.50,3\n", [(1, None, "header")]),
    "wrong header": (b"name,price,category,quantity\nFudge,2.50,Fudge,3\n", [(1, None, "header")]),
    "semicolons": (b"name;category;price;quantity\nFudge;Fudge;2.50;3\n", [(1, None, "semicolons")]),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", [(1, None, "binary")]),
    "latin-1": (HEADER + b"Cr\xe8me,Fudge,2.50,3\n", [(2, None, "UTF-8")]),
    "three decimals": (HEADER + b"Fudge,Fudge,2.505,3\n", [(2, "price", "2 decimal places")]),
    "negative quantity": (HEADER + b"Fudge,Fudge,2.50,-3\n", [(2, "quantity", "between 0 and")]),
    "huge quantity": (HEADER + b"Fudge,Fudge,2.50,99999999999999999999\n", [(2, "quantity", "whole number")]),
    "quoted newline": (HEADER + b'"Fud\nge",Fudge,2.50,3\n', [(2, "name", "control characters")]),
    "unclosed quote": (HEADER + b'"Fudge,Fudge,2.50,3\n', [(2, None, "not valid CSV")]),
    "short row": (HEADER + b"Fudge,Fudge,2.50\n", [(2, None, "Expected 4 values")]),
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
    assert result.exit_code == 0 and "would apply 2 new sweets, 0 updated (+0 units)" in result.output
    assert sweets(app) == set()
    result = runner.invoke(args=["import-sweets", str(path)])
    assert result.exit_code == 0 and "Imported 2 new sweets" in result.output
    assert sweets(app) == {("Fudge", "Fudge", "2.50", 3), ("Mint", "Mints", "0.40", 9)}
    path.write_bytes(HEADER + b"Fudge,Fudge,2.505,3\n")
    result = runner.invoke(args=["import-sweets", str(path)])
    assert result.exit_code == 1 and "line 2, price: Must have at most 2 decimal places." in result.output
