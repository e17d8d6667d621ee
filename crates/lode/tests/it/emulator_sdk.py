"""The official Databricks SDK for Python against lode's workspace emulator.

Run by tests/it/emulator_databricks.rs with DATABRICKS_HOST / DATABRICKS_TOKEN pointing at a
fresh emulator (and LODE_CLIENT_ID / LODE_CLIENT_SECRET for its OAuth client). The argument
names a group of checks (see GROUPS at the end). Any exception fails the run; each check
that passes prints one `ok:` line.
"""

import io
import json
import os
import sys
import time
from datetime import timedelta

from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import NotFound, ResourceAlreadyExists, ResourceConflict
from databricks.sdk.service.sql import StatementState
from databricks.sdk.service.workspace import ImportFormat, ObjectType

HOST = os.environ["DATABRICKS_HOST"]


def ok(what):
    print(f"ok: {what}", flush=True)


def pat_client():
    return WorkspaceClient(host=HOST, token=os.environ["DATABRICKS_TOKEN"], auth_type="pat")


def sql(w, warehouse, statement):
    response = w.statement_execution.execute_statement(
        warehouse_id=warehouse, statement=statement, wait_timeout="30s"
    )
    assert response.status.state == StatementState.SUCCEEDED, (statement, response.as_dict())
    return response


def core():
    w = pat_client()

    me = w.current_user.me()
    assert me.user_name, me
    ok(f"current_user.me() -> {me.user_name}")

    warehouses = list(w.warehouses.list())
    assert warehouses and warehouses[0].id, warehouses
    warehouse = warehouses[0].id
    assert w.warehouses.get(warehouse).id == warehouse
    ok(f"warehouses.list() -> {warehouse}")

    sql(w, warehouse, "CREATE SCHEMA main.sdk")
    sql(w, warehouse, "CREATE TABLE main.sdk.readings (equipment_id STRING, value DOUBLE)")
    values = ", ".join(f"('CR_{i:03}', {i}.5)" for i in range(1500))
    sql(w, warehouse, f"INSERT INTO main.sdk.readings VALUES {values}")
    # A wide column makes the result several megabytes: the emulator, like Databricks, cuts
    # results into chunks by size, so the SDK's chunk walk below is exercised.
    pad = "x" * 4000
    result = sql(
        w,
        warehouse,
        f"SELECT equipment_id, value, '{pad}' AS pad FROM main.sdk.readings ORDER BY equipment_id",
    )
    assert [c.name for c in result.manifest.schema.columns] == ["equipment_id", "value", "pad"]
    assert result.manifest.total_chunk_count >= 2, result.manifest
    assert result.manifest.total_row_count == 1500, result.manifest
    rows = list(result.result.data_array)
    chunk = result.result
    while chunk.next_chunk_index is not None:
        chunk = w.statement_execution.get_statement_result_chunk_n(
            result.statement_id, chunk.next_chunk_index
        )
        rows.extend(chunk.data_array)
    assert len(rows) == 1500 and rows[2] == ["CR_002", "2.5", pad], rows[2][:2]
    ok("statement_execution.execute_statement + result chunks")

    sql(w, warehouse, "CREATE TABLE main.default.sdk_equipment (equipment_id STRING, kind STRING)")
    sql(w, warehouse, "INSERT INTO main.default.sdk_equipment VALUES ('CR_001', 'Crusher'), ('CR_002', 'Crusher'), ('HT_005', 'Truck')")
    joined = sql(
        w,
        warehouse,
        "WITH crushers AS (SELECT equipment_id FROM main.default.sdk_equipment WHERE kind = 'Crusher'), "
        "ranked AS (SELECT r.equipment_id, r.value, "
        "row_number() OVER (PARTITION BY e.kind ORDER BY r.value DESC) AS rn "
        "FROM main.sdk.readings r JOIN main.default.sdk_equipment e ON r.equipment_id = e.equipment_id "
        "JOIN crushers c ON c.equipment_id = e.equipment_id) "
        "SELECT equipment_id, value, rn FROM ranked ORDER BY rn",
    )
    assert [c.name for c in joined.manifest.schema.columns] == ["equipment_id", "value", "rn"]
    assert joined.result.data_array == [["CR_002", "2.5", "1"], ["CR_001", "1.5", "2"]], joined.result.data_array
    ok("a join, a CTE and a window function (issue 15)")

    failed = w.statement_execution.execute_statement(
        warehouse_id=warehouse, statement="SELECT * FROM main.sdk.nope", wait_timeout="30s"
    )
    assert failed.status.state == StatementState.FAILED, failed.as_dict()
    assert "[TABLE_OR_VIEW_NOT_FOUND]" in failed.status.error.message, failed.as_dict()
    ok("a failed statement is a FAILED status, not an exception")

    pending = w.statement_execution.execute_statement(
        warehouse_id=warehouse, statement="SELECT 1 AS one", wait_timeout="0s"
    )
    assert pending.status.state in (StatementState.PENDING, StatementState.RUNNING), pending.as_dict()
    deadline = time.time() + 20
    while True:
        polled = w.statement_execution.get_statement(pending.statement_id)
        if polled.status.state == StatementState.SUCCEEDED:
            break
        assert time.time() < deadline, polled.as_dict()
        time.sleep(0.05)
    assert polled.result.data_array == [["1"]], polled.as_dict()
    ok("wait_timeout=0s then get_statement")

    table = w.tables.get("main.sdk.readings")
    assert table.table_type.value == "MANAGED" and table.columns[1].type_name.value == "DOUBLE", table
    names = [t.name for t in w.tables.list(catalog_name="main", schema_name="sdk")]
    assert names == ["readings"], names
    try:
        w.tables.get("main.sdk.ghost")
        raise AssertionError("a missing table was found")
    except NotFound:
        pass
    schemas = [s.name for s in w.schemas.list(catalog_name="main")]
    assert "sdk" in schemas, schemas
    ok("tables.get / tables.list / schemas.list, NotFound for a missing table")

    w.workspace.mkdirs("/Workspace/Shared/sdk")
    status = w.workspace.get_status("/Workspace/Shared/sdk")
    assert status.object_type == ObjectType.DIRECTORY, status
    listed = list(w.workspace.list("/Workspace/Shared"))
    assert any(o.path == "/Shared/sdk" for o in listed), listed
    ok("workspace.mkdirs / get_status / list")

    created = w.pipelines.create(
        name="sdk-pipeline",
        catalog="main",
        schema="sdk",
        serverless=True,
        development=True,
        libraries=[],
    )
    assert created.pipeline_id, created
    got = w.pipelines.get(created.pipeline_id)
    assert got.name == "sdk-pipeline" and got.state.value == "IDLE", got
    listed = [p.pipeline_id for p in w.pipelines.list_pipelines(filter="name LIKE '%sdk%'")]
    assert listed == [created.pipeline_id], listed
    try:
        w.pipelines.create(name="sdk-pipeline", catalog="main", schema="sdk")
        raise AssertionError("a duplicate pipeline name was accepted")
    except (ResourceConflict, ResourceAlreadyExists):
        pass
    ok("pipelines.create / get / list_pipelines(filter)")

    # The space is created with a raw call: GenieSpace parsing is checked by the `genie` group.
    space_id = w.api_client.do(
        "POST",
        "/api/2.0/genie/spaces",
        body={
            "warehouse_id": warehouse,
            "title": "SDK space",
            "parent_path": "/Workspace/Shared/sdk",
            "serialized_space": json.dumps(
                {"version": 1, "data_sources": {"tables": [{"identifier": "main.sdk.readings"}]}}
            ),
        },
    )["space_id"]
    message = w.genie.start_conversation_and_wait(
        space_id, "How is crusher 2 doing?", timeout=timedelta(seconds=30)
    )
    assert message.status.value == "COMPLETED", message
    texts = [a.text.content for a in message.attachments if a.text]
    assert texts and "CR_002" in texts[0], message
    queries = [a for a in message.attachments if a.query]
    assert queries, message
    result = w.genie.get_message_attachment_query_result(
        space_id, message.conversation_id, message.message_id, queries[0].attachment_id
    )
    rows = result.statement_response.result.data_array
    assert rows and rows[0][0] == "CR_002", result
    ok("genie.start_conversation_and_wait / get_message_attachment_query_result")

    w.genie.trash_space(space_id)
    try:
        w.genie.start_conversation(space_id, "still there?")
        raise AssertionError("a trashed space still answers")
    except NotFound:
        pass
    ok("genie.trash_space then start_conversation -> NotFound")


def genie():
    w = pat_client()
    warehouse = list(w.warehouses.list())[0].id
    sql(w, warehouse, "CREATE SCHEMA IF NOT EXISTS main.sdkg")
    sql(w, warehouse, "CREATE TABLE IF NOT EXISTS main.sdkg.readings (equipment_id STRING)")
    w.workspace.mkdirs("/Workspace/Shared/sdkg")
    space = w.genie.create_space(
        warehouse_id=warehouse,
        serialized_space=json.dumps(
            {"version": 1, "data_sources": {"tables": [{"identifier": "main.sdkg.readings"}]}}
        ),
        title="SDK space",
        parent_path="/Workspace/Shared/sdkg",
    )
    assert space.space_id, space
    full = w.genie.get_space(space.space_id, include_serialized_space=True)
    assert json.loads(full.serialized_space)["version"] == 2, full
    assert full.parent_path == "/Shared/sdkg", full
    assert full.create_time is not None, full
    spaces = w.genie.list_spaces()
    assert [s.space_id for s in spaces.spaces] == [space.space_id], spaces
    assert spaces.spaces[0].serialized_space is None, spaces
    ok("genie.create_space / get_space(include_serialized_space) / list_spaces")

    # Issue 15: an answer is a query attachment whose statement holds the rows.
    sql(w, warehouse, "CREATE TABLE main.sdkg.status (equipment_id STRING, state STRING, load DOUBLE)")
    sql(w, warehouse, "INSERT INTO main.sdkg.status VALUES ('CR_001', 'RUNNING', 81.5), ('CR_002', 'FAULT', 0), ('CV_001', 'RUNNING', 40)")
    example = "SELECT equipment_id, load FROM main.sdkg.status WHERE state = 'RUNNING' ORDER BY equipment_id"
    asking = w.genie.create_space(
        warehouse_id=warehouse,
        serialized_space=json.dumps(
            {
                "version": 2,
                "data_sources": {"tables": [{"identifier": "main.sdkg.status"}]},
                "instructions": {
                    "example_question_sqls": [
                        {"id": "0" * 32, "question": ["Which equipment is running?"], "sql": [example]}
                    ]
                },
            }
        ),
        title="SDK answers",
        parent_path="/Workspace/Shared/sdkg",
    )
    message = w.genie.start_conversation_and_wait(
        asking.space_id, "Which equipment is running right now?", timeout=timedelta(seconds=30)
    )
    assert message.status.value == "COMPLETED", message
    queries = [a for a in message.attachments if a.query]
    assert len(queries) == 1 and queries[0].query.query == example, message
    query = queries[0].query
    assert query.statement_id and query.query_result_metadata.row_count == 2, query
    result = w.genie.get_message_attachment_query_result(
        asking.space_id, message.conversation_id, message.message_id, queries[0].attachment_id
    )
    statement = result.statement_response
    assert statement.statement_id == query.statement_id, statement
    assert statement.status.state == StatementState.SUCCEEDED, statement
    assert [c.name for c in statement.manifest.schema.columns] == ["equipment_id", "load"], statement
    assert statement.result.data_array == [["CR_001", "81.5"], ["CV_001", "40.0"]], statement
    assert w.statement_execution.get_statement(query.statement_id).result.data_array == statement.result.data_array
    texts = [a.text.content for a in message.attachments if a.text]
    assert texts and "CR_001" in texts[0] and "CR_002" not in texts[0], texts
    rerun = w.genie.execute_message_attachment_query(
        asking.space_id, message.conversation_id, message.message_id, queries[0].attachment_id
    )
    assert rerun.statement_response.statement_id != query.statement_id, rerun
    assert rerun.statement_response.result.data_array == statement.result.data_array, rerun
    ok("genie query attachment: get_message_attachment_query_result / execute_message_attachment_query")
    w.genie.trash_space(asking.space_id)

    w.genie.trash_space(space.space_id)
    try:
        w.genie.get_space(space.space_id)
        raise AssertionError("a trashed space was found")
    except NotFound:
        pass
    ok("genie.trash_space then get_space -> NotFound")


def oauth():
    w = WorkspaceClient(
        host=HOST,
        client_id=os.environ["LODE_CLIENT_ID"],
        client_secret=os.environ["LODE_CLIENT_SECRET"],
        auth_type="oauth-m2m",
    )
    me = w.current_user.me()
    assert me.user_name, me
    ok(f"oauth-m2m current_user.me() -> {me.user_name}")
    assert list(w.warehouses.list())
    ok("oauth-m2m warehouses.list()")


def m2m_client(secret):
    """OAuth M2M with the discovery URL given: what works without host metadata."""
    return WorkspaceClient(
        config=Config(
            host=HOST,
            client_id=os.environ["LODE_CLIENT_ID"],
            client_secret=secret,
            auth_type="oauth-m2m",
            discovery_url=f"{HOST}/oidc/.well-known/oauth-authorization-server",
        )
    )


def oauth_discovery_url():
    me = m2m_client(os.environ["LODE_CLIENT_SECRET"]).current_user.me()
    assert me.user_name, me
    ok(f"oauth-m2m (explicit discovery_url) current_user.me() -> {me.user_name}")


def oauth_wrong_secret():
    try:
        m2m_client("wrong").current_user.me()
        raise AssertionError("a wrong secret signed in")
    except ValueError as e:
        # The SDK reads RFC 6749 `error` / `error_description` from the token endpoint.
        assert "invalid_client" in str(e), str(e)
    ok("oauth-m2m with a wrong secret names invalid_client")


def upload():
    w = pat_client()
    w.workspace.mkdirs("/Workspace/Shared/up")
    w.workspace.upload(
        "/Workspace/Shared/up/page.html", io.BytesIO(b"<p>hi</p>"), format=ImportFormat.AUTO, overwrite=True
    )
    assert w.workspace.download("/Workspace/Shared/up/page.html").read() == b"<p>hi</p>"
    ok("workspace.upload / download of a file")
    w.workspace.upload(
        "/Workspace/Shared/up/nb.py",
        b"# Databricks notebook source\nprint(1)\n",
        format=ImportFormat.AUTO,
        overwrite=True,
    )
    status = w.workspace.get_status("/Workspace/Shared/up/nb")
    assert status.object_type == ObjectType.NOTEBOOK, status
    ok("workspace.upload of a notebook")
    try:
        w.workspace.upload("/Workspace/Shared/up/page.html", b"again", format=ImportFormat.AUTO)
        raise AssertionError("overwrite=False replaced a file")
    except ResourceAlreadyExists:
        pass
    ok("workspace.upload without overwrite -> ResourceAlreadyExists")


def import_estate():
    """Issue 17: an estate made with the SDK, not by lode, for `lode import` to take in: a
    schema, two tables (one with a primary key and rows), a pipeline on two SQL files, an HTML
    page, a Genie space and a quality monitor."""
    from databricks.sdk.service.catalog import MonitorSnapshot
    from databricks.sdk.service.pipelines import FileLibrary, PipelineLibrary

    w = pat_client()
    warehouse = list(w.warehouses.list())[0].id
    sql(w, warehouse, "CREATE SCHEMA main.plant COMMENT 'Plant telemetry'")
    sql(
        w,
        warehouse,
        "CREATE TABLE main.plant.sites (site_id STRING NOT NULL COMMENT 'Site code', "
        "name STRING, capacity_tph DOUBLE, CONSTRAINT sites_pk PRIMARY KEY (site_id)) "
        "COMMENT 'Sites of the operation'",
    )
    sql(w, warehouse, "INSERT INTO main.plant.sites VALUES ('PN', 'Pilbara North', 4200.5), ('PS', 'Pilbara South', 3100)")
    sql(
        w,
        warehouse,
        "CREATE TABLE main.plant.readings (event_time TIMESTAMP, tag_path STRING, value DOUBLE) "
        "COMMENT 'Raw readings'",
    )
    ok("schema and tables by SQL")

    folder = "/Workspace/Shared/plant"
    w.workspace.mkdirs(f"{folder}/pipeline")
    silver = (
        "CREATE OR REFRESH MATERIALIZED VIEW readings_clean AS\n"
        "SELECT event_time, tag_path, value FROM main.plant.readings WHERE value IS NOT NULL;\n"
    )
    gold = (
        "CREATE OR REFRESH MATERIALIZED VIEW readings_by_tag AS\n"
        "SELECT tag_path, max(value) AS max_value FROM readings_clean GROUP BY tag_path;\n"
    )
    for name, text in [("silver.sql", silver), ("gold.sql", gold)]:
        w.workspace.upload(f"{folder}/pipeline/{name}", io.BytesIO(text.encode()), format=ImportFormat.AUTO, overwrite=True)
    w.workspace.mkdirs(f"{folder}/chat")
    w.workspace.upload(
        f"{folder}/chat/index.html",
        io.BytesIO(b"<!doctype html>\n<title>Plant chat</title>\n<p>Ask the plant.</p>\n"),
        format=ImportFormat.AUTO,
        overwrite=True,
    )
    ok("workspace files uploaded")

    pipeline = w.pipelines.create(
        name="Plant telemetry",
        catalog="main",
        schema="plant",
        serverless=True,
        libraries=[
            PipelineLibrary(file=FileLibrary(path=f"{folder}/pipeline/silver.sql")),
            PipelineLibrary(file=FileLibrary(path=f"{folder}/pipeline/gold.sql")),
        ],
        configuration={"plant.source": "main.plant.readings"},
    )
    assert pipeline.pipeline_id, pipeline
    ok(f"pipelines.create -> {pipeline.pipeline_id}")

    space = w.genie.create_space(
        warehouse_id=warehouse,
        serialized_space=json.dumps(
            {
                "version": 2,
                "data_sources": {"tables": [{"identifier": "main.plant.sites"}]},
                "instructions": {"text_instructions": [{"id": "1" * 32, "content": ["Sites are PN and PS."]}]},
            }
        ),
        title="Plant questions",
        description="Questions about the plant's sites",
        parent_path=folder,
    )
    assert space.space_id, space
    ok(f"genie.create_space -> {space.space_id}")

    monitor = w.quality_monitors.create(
        table_name="main.plant.readings",
        assets_dir=f"{folder}/monitoring",
        output_schema_name="main.plant",
        snapshot=MonitorSnapshot(),
    )
    assert monitor.table_name == "main.plant.readings", monitor
    ok("quality_monitors.create on main.plant.readings")
    print(json.dumps({"pipeline_id": pipeline.pipeline_id, "space_id": space.space_id}), flush=True)


GROUPS = {
    "core": core,
    "import-estate": import_estate,
    "genie": genie,
    "oauth": oauth,
    "oauth-discovery-url": oauth_discovery_url,
    "oauth-wrong-secret": oauth_wrong_secret,
    "upload": upload,
}

if __name__ == "__main__":
    GROUPS[sys.argv[1]]()
