"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 19:55:06.809925
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "check_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=200), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_check_history_system_fingerprint_run", "check_history", ["system", "fingerprint", "run_at"], unique=False
    )
    op.create_index("ix_check_history_system_run", "check_history", ["system", "run_at"], unique=False)
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("subtype", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("component", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=200), nullable=True),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=32), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("triaged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("investigating_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mitigated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_detected_at_id", "incidents", ["detected_at", "id"], unique=False)
    op.create_index(op.f("ix_incidents_fingerprint"), "incidents", ["fingerprint"], unique=False)
    op.create_index(op.f("ix_incidents_state"), "incidents", ["state"], unique=False)
    op.create_index(op.f("ix_incidents_system"), "incidents", ["system"], unique=False)
    op.create_index(
        "ix_incidents_system_fingerprint_state", "incidents", ["system", "fingerprint", "state"], unique=False
    )
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=200), nullable=True),
        sa.Column("incident_type", sa.String(length=64), nullable=True),
        sa.Column("component", sa.String(length=200), nullable=True),
        sa.Column("fingerprint", sa.String(length=200), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_by", sa.String(length=200), nullable=True),
        sa.Column("matched_count", sa.Integer(), nullable=False),
        sa.Column("last_matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_silences_system"), "silences", ["system"], unique=False)
    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=1000), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_action_items_incident_id"), "action_items", ["incident_id"], unique=False)
    op.create_index("ix_action_items_status_due", "action_items", ["status", "due_at"], unique=False)
    op.create_table(
        "escalation_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("page", sa.Boolean(), nullable=False),
        sa.Column("until", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_escalation_steps_due_at"), "escalation_steps", ["due_at"], unique=False)
    op.create_index(op.f("ix_escalation_steps_incident_id"), "escalation_steps", ["incident_id"], unique=False)
    op.create_index(op.f("ix_escalation_steps_status"), "escalation_steps", ["status"], unique=False)
    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_incident_events_incident_id"), "incident_events", ["incident_id"], unique=False)
    op.create_table(
        "incident_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("related_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["related_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "related_id", "reason", name="uq_incident_links"),
    )
    op.create_index(op.f("ix_incident_links_incident_id"), "incident_links", ["incident_id"], unique=False)
    op.create_index(op.f("ix_incident_links_related_id"), "incident_links", ["related_id"], unique=False)
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel_config", sa.JSON(), nullable=False),
        sa.Column("external_id", sa.String(length=500), nullable=True),
        sa.Column("thread_id", sa.String(length=500), nullable=True),
        sa.Column("last_payload_hash", sa.String(length=64), nullable=True),
        sa.Column("last_message", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "channel", name="uq_notifications_incident_channel"),
    )
    op.create_index(op.f("ix_notifications_incident_id"), "notifications", ["incident_id"], unique=False)
    op.create_table(
        "rca_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("inputs_fingerprint", sa.String(length=200), nullable=False),
        sa.Column("code_version", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.Column("report_html", sa.String(length=1000), nullable=True),
        sa.Column("report_md", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_rca_runs_incident_id"), "rca_runs", ["incident_id"], unique=False)

    # The audit log is append-only in the database too (as models.py does on create_all).
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER incident_events_no_{verb.lower()} BEFORE {verb} ON incident_events "
                f"BEGIN SELECT RAISE(ABORT, 'incident_events is append-only: {verb} refused'); END"
            )
    elif op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION incident_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION USING MESSAGE = 'incident_events is append-only: ' || TG_OP || ' refused'; "
            "END $$"
        )
        op.execute(
            "CREATE TRIGGER incident_events_append_only BEFORE UPDATE OR DELETE ON incident_events "
            "FOR EACH ROW EXECUTE FUNCTION incident_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER incident_events_no_truncate BEFORE TRUNCATE ON incident_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION incident_events_append_only()"
        )


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS incident_events_append_only() CASCADE")
    op.drop_index(op.f("ix_rca_runs_incident_id"), table_name="rca_runs")
    op.drop_table("rca_runs")
    op.drop_index(op.f("ix_notifications_incident_id"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_incident_links_related_id"), table_name="incident_links")
    op.drop_index(op.f("ix_incident_links_incident_id"), table_name="incident_links")
    op.drop_table("incident_links")
    op.drop_index(op.f("ix_incident_events_incident_id"), table_name="incident_events")
    op.drop_table("incident_events")
    op.drop_index(op.f("ix_escalation_steps_status"), table_name="escalation_steps")
    op.drop_index(op.f("ix_escalation_steps_incident_id"), table_name="escalation_steps")
    op.drop_index(op.f("ix_escalation_steps_due_at"), table_name="escalation_steps")
    op.drop_table("escalation_steps")
    op.drop_index("ix_action_items_status_due", table_name="action_items")
    op.drop_index(op.f("ix_action_items_incident_id"), table_name="action_items")
    op.drop_table("action_items")
    op.drop_index(op.f("ix_silences_system"), table_name="silences")
    op.drop_table("silences")
    op.drop_index("ix_incidents_system_fingerprint_state", table_name="incidents")
    op.drop_index(op.f("ix_incidents_system"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_state"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_fingerprint"), table_name="incidents")
    op.drop_index("ix_incidents_detected_at_id", table_name="incidents")
    op.drop_table("incidents")
    op.drop_index("ix_check_history_system_run", table_name="check_history")
    op.drop_index("ix_check_history_system_fingerprint_run", table_name="check_history")
    op.drop_table("check_history")
