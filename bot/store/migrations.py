"""The store's schema, as forward migrations; `PRAGMA user_version` records how far a file is."""

from __future__ import annotations

# Append only: never edit a migration that has shipped, add the next one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE leads (
        user_id INTEGER PRIMARY KEY,
        first_name TEXT,
        last_name TEXT,
        username TEXT,
        language TEXT NOT NULL,
        first_source TEXT,
        email TEXT,
        email_at INTEGER,
        consent_at INTEGER,
        consent_version TEXT,
        subscribed INTEGER NOT NULL DEFAULT 0,
        unsubscribed_at INTEGER,
        blocked_at INTEGER,
        stage TEXT NOT NULL DEFAULT 'visitor',
        started_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX leads_stage ON leads(stage);
    CREATE INDEX leads_email_at ON leads(email_at);

    CREATE TABLE lead_magnets (
        user_id INTEGER NOT NULL REFERENCES leads(user_id) ON DELETE CASCADE,
        magnet_id TEXT NOT NULL,
        source TEXT,
        requested_at INTEGER NOT NULL,
        answer_id TEXT,
        answer_fit INTEGER,
        answered_at INTEGER,
        delivered_at INTEGER,
        PRIMARY KEY (user_id, magnet_id)
    );

    -- Append-only log every KPI is computed from. `person` is the Telegram user id, replaced by
    -- an anonymous negative number when the person erases their data.
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        person INTEGER NOT NULL,
        kind TEXT NOT NULL,
        magnet_id TEXT,
        source TEXT,
        value TEXT,
        update_id INTEGER
    );
    CREATE INDEX events_kind_at ON events(kind, at);
    CREATE INDEX events_person ON events(person, kind);
    -- Replaying an update (after a crash) must not log its events twice.
    CREATE UNIQUE INDEX events_once ON events(update_id, person, kind) WHERE update_id IS NOT NULL;

    -- The step a person is in (waiting for an email, an answer...): survives restarts.
    CREATE TABLE sessions (
        user_id INTEGER PRIMARY KEY,
        step TEXT NOT NULL,
        magnet_id TEXT,
        data TEXT,
        updated_at INTEGER NOT NULL
    );

    -- Telegram file_id of each uploaded PDF, keyed by the file's SHA-256.
    CREATE TABLE files (
        sha256 TEXT PRIMARY KEY,
        file_id TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );

    -- Every update fetched from Telegram, written before Telegram is told it was received, and
    -- marked done once handled: the gap PTB's polling leaves open.
    CREATE TABLE inbox (
        update_id INTEGER PRIMARY KEY,
        user_id INTEGER,
        payload TEXT,
        received_at INTEGER NOT NULL,
        done_at INTEGER
    );
    CREATE INDEX inbox_pending ON inbox(done_at) WHERE done_at IS NULL;
    CREATE INDEX inbox_user ON inbox(user_id);
    """,
    # 2: nurture tips, plan and contact requests, owners' conversations with leads.
    """
    ALTER TABLE leads ADD COLUMN timezone TEXT;
    ALTER TABLE leads ADD COLUMN hot_at INTEGER;
    ALTER TABLE leads ADD COLUMN hot_reason TEXT;
    ALTER TABLE leads ADD COLUMN contacted_at INTEGER;
    ALTER TABLE leads ADD COLUMN won_at INTEGER;
    ALTER TABLE leads ADD COLUMN relay_owner INTEGER;
    ALTER TABLE leads ADD COLUMN relay_until INTEGER;

    -- The nurture schedule: at most one row per (person, magnet, tip), so at most one send.
    -- Only the next tip of a sequence is scheduled; sending it schedules the one after.
    CREATE TABLE tips (
        user_id INTEGER NOT NULL REFERENCES leads(user_id) ON DELETE CASCADE,
        magnet_id TEXT NOT NULL,
        tip_id TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        sent_at INTEGER,
        message_id INTEGER,
        PRIMARY KEY (user_id, magnet_id, tip_id)
    );
    CREATE INDEX tips_due ON tips(due_at) WHERE state = 'pending';
    CREATE INDEX tips_state ON tips(state);

    -- Free text people wrote to the business (plan goals, contact messages): personal data.
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES leads(user_id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE INDEX messages_user ON messages(user_id);

    -- Which lead a bot message in an owner's chat is about, so a reply reaches that lead.
    CREATE TABLE relays (
        owner_chat INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL REFERENCES leads(user_id) ON DELETE CASCADE,
        PRIMARY KEY (owner_chat, message_id)
    );
    CREATE INDEX relays_user ON relays(user_id);
    """,
    # 3: owner lead lists.
    """
    CREATE INDEX leads_hot ON leads(hot_at) WHERE hot_at IS NOT NULL;
    CREATE INDEX leads_won ON leads(won_at) WHERE won_at IS NOT NULL;
    """,
    # 4: broadcasts, stored before the first message is sent.
    """
    CREATE TABLE broadcasts (
        id INTEGER PRIMARY KEY,
        owner_chat INTEGER NOT NULL,
        text TEXT NOT NULL,
        segments TEXT NOT NULL DEFAULT '[]',
        segment TEXT,
        state TEXT NOT NULL DEFAULT 'draft',
        paid INTEGER NOT NULL DEFAULT 0,
        status_message_id INTEGER,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER
    );
    CREATE INDEX broadcasts_state ON broadcasts(state);
    -- One row per (broadcast, person): at most one send each.
    CREATE TABLE broadcast_recipients (
        broadcast_id INTEGER NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try_at INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (broadcast_id, user_id)
    );
    CREATE INDEX recipients_state ON broadcast_recipients(broadcast_id, state, next_try_at);
    CREATE INDEX recipients_user ON broadcast_recipients(user_id);
    """,
    # 5: a replayed update must not store the same message twice.
    """
    ALTER TABLE messages ADD COLUMN update_id INTEGER;
    CREATE UNIQUE INDEX messages_once ON messages(update_id) WHERE update_id IS NOT NULL;
    """,
    # 6: covering indexes for the KPI queries (/stats on 1,000,000 events stays fast).
    """
    DROP INDEX events_kind_at;
    CREATE INDEX events_kind_at ON events(kind, at, person, value, magnet_id, source);
    DROP INDEX events_person;
    CREATE INDEX events_person ON events(person, kind, value);
    """,
    # 7: answers carry the person's first source, like starts and leads (by-source splits).
    """
    UPDATE events SET source = (
        SELECT s.source FROM events s WHERE s.person = events.person AND s.kind = 'start')
    WHERE kind = 'answer' AND source IS NULL;
    """,
    # 8: double opt-in (codes and a mail outbox) and webhooks to other tools (an outbox).
    """
    ALTER TABLE leads ADD COLUMN email_verified_at INTEGER;

    -- The code a person must type to verify their email: one live code per person.
    CREATE TABLE optin_codes (
        user_id INTEGER PRIMARY KEY REFERENCES leads(user_id) ON DELETE CASCADE,
        email TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        magnet_id TEXT,
        issued_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    );

    -- Emails to send (verification codes), kept until the SMTP server took them.
    -- AUTOINCREMENT: an id is never reused after an erasure deletes rows, so a sender holding
    -- an old id can never mark someone else's row.
    CREATE TABLE mails (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES leads(user_id) ON DELETE CASCADE,
        to_addr TEXT NOT NULL,
        code TEXT,
        magnet_id TEXT,
        language TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        sent_at INTEGER,
        error TEXT,
        update_id INTEGER
    );
    CREATE INDEX mails_due ON mails(next_at) WHERE state = 'pending';
    CREATE INDEX mails_user ON mails(user_id);
    CREATE INDEX mails_state ON mails(state);
    -- A replayed update must not issue a second code.
    CREATE UNIQUE INDEX mails_once ON mails(update_id) WHERE update_id IS NOT NULL;

    -- Events for other tools: one row per (event, URL), written in the same transaction as the
    -- change it reports; the body is dropped once delivered (and on erasure).
    CREATE TABLE hooks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL,
        url TEXT NOT NULL,
        lead_key INTEGER NOT NULL,
        type TEXT NOT NULL,
        body TEXT,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        sent_at INTEGER,
        error TEXT,
        UNIQUE (event_id, url)
    );
    CREATE INDEX hooks_pending ON hooks(url, lead_key, id) WHERE state = 'pending';
    CREATE INDEX hooks_due ON hooks(url, next_at) WHERE state = 'pending';
    CREATE INDEX hooks_lead ON hooks(lead_key);
    CREATE INDEX hooks_state ON hooks(state, created_at);
    """,
    # 9: mails handed to the server per address and per person (hashed, kept one day), so the
    # daily limit survives /forget; which address a mail was for, once its address is blanked.
    """
    ALTER TABLE mails ADD COLUMN addr_key TEXT;
    CREATE TABLE mail_quota (
        key TEXT NOT NULL,
        at INTEGER NOT NULL,
        mail_id INTEGER
    );
    CREATE INDEX mail_quota_mail ON mail_quota(mail_id);
    CREATE INDEX mail_quota_key ON mail_quota(key, at);
    """,
    # 10: a tip waiting for the sending hours keeps the time it was due by its delay, so the
    # hours in force at the next start (not the ones at scheduling) decide when it goes.
    """
    ALTER TABLE tips ADD COLUMN postponed_from INTEGER;
    """,
    # 11: updates Telegram sent that PTB cannot read, set aside (raw JSON, erased with the
    # person) so that everyone behind them is served; owners hear of each once.
    """
    CREATE TABLE unreadable_updates (
        update_id INTEGER PRIMARY KEY,
        user_id INTEGER,
        payload TEXT NOT NULL,
        error TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        reported_at INTEGER
    );
    CREATE INDEX unreadable_user ON unreadable_updates(user_id);
    """,
    # 12: bot messages in owners' chats that name a lead (confirmations, /leads pages, notices),
    # so that an erasure can redact or redraw each of them.
    """
    CREATE TABLE mentions (
        owner_chat INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL REFERENCES leads(user_id) ON DELETE CASCADE,
        redraw TEXT,
        PRIMARY KEY (owner_chat, message_id, user_id)
    );
    CREATE INDEX mentions_user ON mentions(user_id);
    """,
    # 13: the team inbox. Each relay (a person's message to the team, a team answer to the
    # person) is an outbox row written with the update that caused it, sent in order per person
    # and destination (at least once); one conversation row per person (waiting since, acks).
    """
    CREATE TABLE team_relays (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        person INTEGER NOT NULL,
        direction TEXT NOT NULL,
        to_chat INTEGER NOT NULL,
        from_chat INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        sent_at INTEGER,
        header_id INTEGER,
        copy_id INTEGER,
        error TEXT,
        update_id INTEGER
    );
    CREATE UNIQUE INDEX team_relays_once ON team_relays(update_id, to_chat)
        WHERE update_id IS NOT NULL;
    CREATE INDEX team_relays_pending ON team_relays(person, to_chat, id) WHERE state = 'pending';
    CREATE INDEX team_relays_due ON team_relays(next_at) WHERE state = 'pending';
    CREATE INDEX team_relays_person ON team_relays(person);
    CREATE INDEX team_relays_copy ON team_relays(to_chat, copy_id);
    CREATE TABLE conversations (
        person INTEGER PRIMARY KEY,
        first_at INTEGER NOT NULL,
        last_in_at INTEGER NOT NULL,
        waiting_since INTEGER,
        acked_at INTEGER,
        messages INTEGER NOT NULL DEFAULT 0,
        topic_chat INTEGER,
        topic_id INTEGER
    );
    CREATE INDEX conversations_waiting ON conversations(waiting_since)
        WHERE waiting_since IS NOT NULL;
    """,
    # 14: a person's forum topic in the inbox group found from the topic (team answers).
    """
    CREATE INDEX conversations_topic ON conversations(topic_chat, topic_id);
    """,
    # 15: broadcasts copied from the owner's own message, one per language, with link buttons.
    """
    ALTER TABLE broadcasts ADD COLUMN buttons TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE broadcast_versions (
        broadcast_id INTEGER NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
        language TEXT NOT NULL,
        from_chat INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (broadcast_id, language)
    );
    """,
    # 16: broadcasts sent later: `scheduled` until send_at, `held` when owners must decide.
    """
    ALTER TABLE broadcasts ADD COLUMN send_at INTEGER;
    CREATE INDEX broadcasts_due ON broadcasts(send_at) WHERE state = 'scheduled';
    """,
    # 17: KPIs per person (the team inbox's conversations and first answers, a person's first
    # source): one kind's events in person order, each person's start found from the index.
    """
    CREATE INDEX events_kind_person ON events(kind, person, at, value, source);
    """,
    # 18: hot-lead alerts into the inbox group as relays (PostgreSQL: the elected sender alone
    # opens topics and keeps the group's pace), with the card's text; the messages each relay
    # took in the group, so that a new sender starts with the group's last minute counted;
    # the title a topic was given (🔥 added once, never a second time).
    """
    ALTER TABLE conversations ADD COLUMN topic_title TEXT;
    ALTER TABLE team_relays ADD COLUMN card TEXT;
    ALTER TABLE team_relays ADD COLUMN sends INTEGER;
    CREATE INDEX team_relays_sent ON team_relays(to_chat, sent_at);
    """,
    # 19: the leader opening a person's topic claims it first (when, in whole seconds): a new
    # leader seeing a fresh claim waits for that topic instead of opening a second one.
    """
    ALTER TABLE conversations ADD COLUMN topic_claimed_at INTEGER;
    """,
)
