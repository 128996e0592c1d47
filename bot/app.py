"""The application factory: one place builds the bot and registers every handler, in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot.broadcast.schedule import run_due
from bot.broadcast.sender import Broadcaster
from bot.inbox.relay import IN_FLIGHT as INBOX_IN_FLIGHT
from bot.inbox.relay import InboxSender
from bot.nurture.sender import IN_FLIGHT, Nurture
from bot.ops.guard import CHECK_SECONDS, Guard, StartupError, start_problem, watch
from bot.outbox.crm import CrmSender
from bot.outbox.mailer import Mailer
from bot.outbox.pump import Pump
from bot.owner.alerts import notify_owners
from bot.services import Ctx, Running, Services
from bot.store import Store, open_store
from bot.telegram import callback_data as cb
from bot.telegram.cluster import Cluster
from bot.telegram.intake import IntakeBot, IntakeProcessor, replay_pending
from bot.telegram.leader import LeaderDuties
from bot.telegram.pacing import Pacer, departure_hooks, in_flight_for
from bot.telegram.replies import ReplyRateLimiter
from handlers import (
    broadcast,
    capture,
    console,
    fallback,
    inbox,
    menu,
    optin,
    owner,
    privacy,
    ready,
    stats,
)

log = logging.getLogger(__name__)

App = Application[Any, Ctx, Any, Any, Any, Any]
OWNER_COMMANDS = ("stats", "inbox", "leads", "export", "links", "broadcast")
PROSPECT_COMMANDS = (
    "start",
    "magnets",
    "plan",
    "contact",
    "help",
    "privacy",
    "mydata",
    "stop",
    "forget",
    "cancel",
)
# Updates the bot asks Telegram for: messages, buttons, and blocks/unblocks of the bot.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]


# Each kind of callback data (bot/telegram/callback_data.py) and the handler for its buttons.
ButtonHandler = Callable[[Update, Ctx], Coroutine[Any, Any, None]]
BUTTONS: tuple[tuple[type[cb.ButtonData], ButtonHandler], ...] = (
    (cb.PickMagnet, capture.pick_magnet),
    (cb.AnswerQuestion, capture.answer_question),
    (cb.EmailSuggestion, capture.confirm_suggestion),
    (cb.OptInAgain, capture.opt_in_again),
    (cb.CodeButton, optin.code_button),
    (cb.Forget, privacy.forget_confirmed),
    (cb.PlanButton, ready.plan_button),
    (cb.StopButton, ready.stop_button),
    (cb.GoalSkip, ready.goal_skip),
    (cb.OwnerMark, owner.owner_button),
    (cb.LeadsPage, console.leads_page),
    (cb.LeadCard, console.card),
    (cb.BroadcastButton, broadcast.button),
    (cb.InboxDone, inbox.done_button),
)


class ChatlessButtonHandler(BaseHandler[Update, Ctx, None]):
    """Matches a button pressed on an inline message (a query without a chat) only: the
    callback then runs for those alone, not for every update (a TypeHandler would)."""

    def check_update(self, update: object) -> bool:
        """A callback query without a chat."""
        return (
            isinstance(update, Update)
            and update.callback_query is not None
            and update.effective_chat is None
        )


def register_handlers(app: App, svc: Services) -> None:
    """Every handler, in the order they are tried."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("start", menu.start, filters=private))
    app.add_handler(CommandHandler("magnets", menu.magnets, filters=private))
    app.add_handler(CommandHandler("help", menu.help_command, filters=private))
    app.add_handler(CommandHandler("cancel", menu.cancel, filters=private))
    app.add_handler(CommandHandler("privacy", privacy.privacy, filters=private))
    app.add_handler(CommandHandler("mydata", privacy.mydata, filters=private))
    app.add_handler(CommandHandler("stop", privacy.stop, filters=private))
    app.add_handler(CommandHandler("forget", privacy.forget, filters=private))
    app.add_handler(CommandHandler("plan", ready.plan_command, filters=private))
    app.add_handler(CommandHandler("contact", ready.contact_command, filters=private))
    owners = filters.User(user_id=list(svc.settings.owner_ids))
    # Owner commands: to anybody else they fall through to unknown_command, like any typo.
    app.add_handler(CommandHandler("stats", stats.stats, filters=private & owners))
    app.add_handler(CommandHandler("leads", console.leads, filters=private & owners))
    app.add_handler(CommandHandler("export", console.export, filters=private & owners))
    app.add_handler(CommandHandler("links", console.links, filters=private & owners))
    app.add_handler(CommandHandler("broadcast", broadcast.broadcast, filters=private & owners))
    app.add_handler(CommandHandler("inbox", inbox.inbox_command, filters=private & owners))
    app.add_handler(MessageHandler(private & filters.COMMAND, fallback.unknown_command))
    app.add_handler(MessageHandler(private & owners & filters.REPLY, inbox.team_reply))
    app.add_handler(MessageHandler(private & filters.TEXT, menu.text))
    app.add_handler(MessageHandler(private, menu.not_text))
    if svc.settings.inbox_chat_id is not None:  # any member of the inbox group may answer
        team = filters.Chat(chat_id=svc.settings.inbox_chat_id) & filters.UpdateType.MESSAGE
        app.add_handler(MessageHandler(team & ~filters.COMMAND, inbox.in_topic))

    # Before every button handler (they all answer in the chat): inline messages have none.
    app.add_handler(ChatlessButtonHandler(fallback.chatless_button), group=-1)
    for kind, handler in BUTTONS:  # each kind of button data has its handler
        app.add_handler(CallbackQueryHandler(handler, pattern=kind.pattern))
    app.add_handler(CallbackQueryHandler(fallback.unknown_button))

    app.add_handler(
        ChatMemberHandler(fallback.member_changed, ChatMemberHandler.MY_CHAT_MEMBER, chat_id=None)
    )
    app.add_error_handler(fallback.on_error)


async def set_commands(app: App, svc: Services) -> None:
    """The command menu prospects see, in each language; owners also see theirs, in their chat."""
    for lang in svc.texts.languages:
        commands = [BotCommand(c, svc.texts.get(lang, f"cmd_{c}")) for c in PROSPECT_COMMANDS]
        await app.bot.set_my_commands(commands, language_code=lang)
        if lang == svc.texts.default:
            await app.bot.set_my_commands(commands)
    lang = svc.owner_lang
    owner_menu = [BotCommand(c, svc.texts.get(lang, f"cmd_{c}")) for c in OWNER_COMMANDS]
    owner_menu += [BotCommand(c, svc.texts.get(lang, f"cmd_{c}")) for c in PROSPECT_COMMANDS]
    for owner_id in svc.settings.owner_ids:
        try:
            await app.bot.set_my_commands(owner_menu, scope=BotCommandScopeChat(owner_id))
        except TelegramError as exc:  # the owner has not opened the bot yet, or blocked it
            log.warning("owner %s: no command menu (%s); they should /start the bot", owner_id, exc)


async def open_services(app: App) -> None:
    """post_init: open the store, build the senders and wire them all once, then let each pick
    up what a previous run left (tips, broadcasts, relays, webhook events), set the commands
    and replay unfinished updates. Shared mode (several processes on PostgreSQL): the elected
    leader alone picks up and sends, and the shared inbox's dispatcher replaces the replay."""
    svc: Services = app.bot_data["svc"]
    guard: Guard = app.bot_data["guard"]
    try:
        store = await open_store(svc.settings, svc.clock)
    except Exception as exc:  # one clear line, exit code 2 (bot/__main__.py), if it is known
        _refuse(svc, exc)
        raise
    try:
        await store.set_owners(svc.settings.owner_ids)  # left out of every KPI and the export
    except Exception as exc:
        await store.close()
        _refuse(svc, exc)
        raise
    if store.url is not None:  # PostgreSQL lost: one line at once, and every connection dropped
        _watch_connection(store, guard)
    if isinstance(app.bot, IntakeBot):
        app.bot.attach_store(store)
    if isinstance(app.update_processor, IntakeProcessor):
        app.update_processor.store = store
        app.update_processor.rerun = app.process_update  # a reply failed: handled again
    bulk = Pacer(svc.settings.bulk_rate)  # tips and broadcasts share Telegram's budget
    if isinstance(app.bot.rate_limiter, ReplyRateLimiter):
        app.bot.rate_limiter.bulk = bulk  # a reply's 429 pauses bulk sends: replies first
    running = Running(
        store,
        nurture=Nurture(svc, app.bot, bulk),
        broadcaster=Broadcaster(svc, app.bot, bulk),
        inbox=InboxSender(svc, app.bot),  # relays left by a previous run go at the first tick
        mailer=Mailer(svc, app.bot) if svc.settings.double_optin else None,
        crm=CrmSender(svc, app.bot) if svc.settings.crm_webhook_urls else None,
    )
    svc.open(running)
    if running.crm is not None:
        store.hook_urls = tuple(svc.settings.crm_webhook_urls)
        store.on_hook = running.crm.kick  # an event was committed: post it now, not at a tick
    if app.bot_data.get("shared") and svc.settings.database_url is not None:
        # The dispatcher replaces the replay: say what it finds, as the replay does (before it
        # starts: once handed, the count would race the handling).
        left = await store.intake.pending_count()
        if left:
            log.info("%d update(s) left unfinished in the shared inbox: handled in turn", left)
        try:
            await _join_cluster(app, svc, running, svc.settings.database_url.get_secret_value())
        except Exception as exc:
            _refuse(svc, exc)
            raise
    else:
        await _pick_up(app, svc)
        _schedule_senders(app, svc, running)
    if app.job_queue is not None:  # the database file still there, room on its disk...
        app.job_queue.run_repeating(
            _guard_tick, interval=CHECK_SECONDS, first=CHECK_SECONDS, name="guard"
        )
    await set_commands(app, svc)
    if "cluster" not in app.bot_data:  # shared mode: the dispatcher hands what is pending
        await replay_pending(app, store)


def _refuse(svc: Services, exc: Exception) -> None:
    """A fault opening the store (or joining the cluster) that has its one line: StartupError."""
    problem = start_problem(svc.settings, exc)
    if problem is not None:
        raise StartupError(problem) from exc


def _watch_connection(store: Store, guard: Guard) -> None:
    """PostgreSQL: the store's connection lost (closed by the server, or a statement not
    answered in time) is the Guard's fatal fault at once, and a fatal fault drops it."""
    from bot.store.core import lost_line

    url = store.url
    assert url is not None
    store.on_lost(lambda why: guard.fail(lost_line(url, why)))
    guard.on_fatal.append(lambda: _drop_if_stuck(store))


PROBE_SECONDS = 1.0  # after another fatal fault, the store's connection must answer this soon


def _drop_if_stuck(store: Store) -> None:
    """A fatal fault: the store's connections dropped now if lost or not answering within
    PROBE_SECONDS (behind a statement that hangs too: statements waiting on a server that no
    longer answers then fail at once, and the stop does not wait for them); else kept, so that
    the updates under way finish (e.g. only the cluster's connection was ended)."""
    task = asyncio.get_running_loop().create_task(
        store.abort_unless_answering(PROBE_SECONDS), name="store-probe"
    )
    _PROBES.add(task)
    task.add_done_callback(_PROBES.discard)


_PROBES: set[asyncio.Task[None]] = set()  # held until done (the loop keeps weak references)


async def _pick_up(app: App, svc: Services) -> None:
    """What a previous run (or a dead leader) left: tips and broadcasts in flight become
    unknown, broadcasts go on, relays retarget, webhook events for URLs no longer set end."""
    await svc.nurture.recover()
    await svc.broadcaster.resume()
    await svc.inbox.check_group()
    await _retire_hooks(app, svc)


def _schedule_senders(app: App, svc: Services, running: Running) -> None:
    """The senders' timers: tips and scheduled broadcasts, outbox retries and leftovers."""
    if app.job_queue is None:
        return
    # The schedule lives in the database; the job only wakes it up.
    app.job_queue.run_repeating(
        _nurture_tick, interval=svc.settings.tips_check_seconds, first=1, name="nurture"
    )
    for pump in running.pumps:  # retries and leftovers of a previous run
        app.job_queue.run_repeating(
            _pump_tick, interval=svc.settings.outbox_check_seconds, first=1, data=pump
        )


async def _join_cluster(app: App, svc: Services, running: Running, url: str) -> None:
    """Shared mode: senders stand by until this process is elected; the dispatcher runs."""
    guard: Guard = app.bot_data["guard"]
    cluster = Cluster(app, running.store, svc.settings.concurrent_updates, guard.fail)
    duties = LeaderDuties(
        svc, running, cluster.request_work,
        pick_up=lambda: _pick_up(app, svc), schedule=lambda: _schedule_senders(app, svc, running),
    )  # fmt: skip
    await cluster.open(url)
    guard.on_fatal.append(cluster.abort)  # its connections dropped at once, sending stopped
    assert cluster.leadership is not None and cluster.dispatcher is not None
    cluster.leadership.elected.append(duties.take_over)
    cluster.leadership.elected.extend(app.bot_data.get("on_elected", ()))  # polling starts
    cluster.sweeps.append(duties.sweep)
    cluster.halts.append(duties.halt)
    cluster.halts.extend(app.bot_data.get("on_lost", ()))  # polling stops at once
    if isinstance(app.update_processor, IntakeProcessor):
        app.update_processor.finished = cluster.dispatcher.finished
        app.update_processor.may_handle = lambda: cluster.lost is None
    app.bot_data["cluster"] = cluster
    cluster.start()


async def _retire_hooks(app: App, svc: Services) -> None:
    """Give up webhook events for URLs no longer set, and tell owners (erasures among them)."""
    retired = await svc.store.hooks.retire(tuple(svc.settings.crm_webhook_urls))
    if retired:  # erase events among them never reach the CRM: owners must know
        log.warning("%d webhook event(s) for URLs no longer set were given up", retired)
        notice = svc.texts.count(svc.owner_lang, "owner_hooks_retired", retired)
        await notify_owners(app.bot, svc, notice)


async def _nurture_tick(context: Ctx) -> None:
    """JobQueue callback: send the tips that are due, start the broadcasts whose time came."""
    await context.svc.nurture.tick()
    await run_due(context.svc, context.bot)  # scheduled broadcasts live in SQLite too


async def _guard_tick(context: Ctx) -> None:
    """JobQueue callback: the periodic look at the database file and its disk."""
    await watch(context.svc, context.bot, context.application.bot_data["guard"])


async def _pump_tick(context: Ctx) -> None:
    """JobQueue callback: one pass of an outbox sender (mail, webhooks, team inbox)."""
    assert isinstance(context.job.data, Pump)  # type: ignore[union-attr]
    context.job.data.kick()  # type: ignore[union-attr]  # never waits: a pass may be long


async def stop_services(app: App) -> None:
    """post_stop: let running broadcasts and outbox passes finish their in-flight sends."""
    running: Running | None = app.bot_data["svc"].running
    if running is None:
        return
    if running.broadcaster is not None:
        await running.broadcaster.stop()
    if running.nurture is not None:
        await running.nurture.stop()
    for pump in running.pumps:
        await pump.stop()


async def close_services(app: App) -> None:
    """post_shutdown: leave the cluster (its locks go), close the store; the services are
    unwired until the next post_init."""
    svc: Services = app.bot_data["svc"]
    cluster: Cluster | None = app.bot_data.pop("cluster", None)
    if cluster is not None:
        await cluster.close()
        if isinstance(app.update_processor, IntakeProcessor):
            app.update_processor.finished = None
            app.update_processor.may_handle = None
    if isinstance(app.bot, IntakeBot):
        app.bot.attach_store(None)
    if svc.running is not None:
        await svc.running.store.close()
        svc.close()


def pool_size(svc: Services) -> int:
    """HTTP connections: one per update handled at once plus every bulk send in flight, so a
    claimed tip or broadcast message never waits for a connection before it is written."""
    paid = svc.settings.paid_broadcast_rate
    bulk = in_flight_for(svc.settings.bulk_rate) + IN_FLIGHT  # broadcasts + tips
    relays = INBOX_IN_FLIGHT  # the team inbox's copies
    return svc.settings.concurrent_updates + bulk + relays + (in_flight_for(paid) if paid else 0)


class AimantApplication(Application[Any, Ctx, Any, Any, Any, Any]):
    """PTB's Application, whose stop first halts bulk sending: PTB then waits for the handlers
    and the tip job still running, and tips or recipients waiting for a slot stay pending."""

    async def start(self) -> None:
        """PTB's start; updates are handled again after a failed reply (till the next stop)."""
        if isinstance(self.update_processor, IntakeProcessor):
            self.update_processor.stopping = False
        await super().start()

    async def stop(self) -> None:
        """Halt the bulk senders (sends under way go on), then PTB's stop."""
        if isinstance(self.update_processor, IntakeProcessor):  # no update handled again
            self.update_processor.stopping = True
        cluster: Cluster | None = self.bot_data.get("cluster")
        if cluster is not None:  # no more updates handed; those handed are handled first
            cluster.stop_dispatching()
        running: Running | None = self.bot_data["svc"].running
        for sender in (running.nurture, running.broadcaster) if running else ():
            if sender is not None:
                sender.halt()
        await super().stop()


def build_application(
    svc: Services,
    *,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
    rate_limiter: bool = True,
) -> App:
    """Build the PTB application for these services (requests are injectable for tests)."""
    if svc.settings.bot_token is None:
        raise ValueError("BOT_TOKEN is not set")
    bot = IntakeBot(
        svc.settings.bot_token.get_secret_value(),
        base_url=svc.settings.bot_api_url,
        base_file_url=svc.settings.file_url,
        request=request
        or HTTPXRequest(  # bulk requests say when they left (the pacer counts from then)
            connection_pool_size=pool_size(svc), httpx_kwargs={"event_hooks": departure_hooks()}
        ),
        get_updates_request=updates_request or HTTPXRequest(),
        defaults=Defaults(parse_mode=ParseMode.HTML),
        # Bulk sends are paced by the Pacer and handle their 429s; replies wait theirs out.
        rate_limiter=ReplyRateLimiter(overall_max_rate=0) if rate_limiter else None,  # type: ignore[arg-type]
    )
    app: App = (
        ApplicationBuilder()
        .application_class(AimantApplication)
        .bot(bot)
        .concurrent_updates(IntakeProcessor(svc.settings.concurrent_updates))
        .context_types(ContextTypes(context=Ctx))
        .post_init(open_services)
        .post_stop(stop_services)
        .post_shutdown(close_services)
        .build()
    )
    app.bot_data["svc"] = svc
    app.bot_data["guard"] = Guard()  # `aimant run` makes it stop the process on a fatal fault
    register_handlers(app, svc)
    return app
