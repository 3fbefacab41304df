"""What notify says to residents (Japanese, polite, plain): the welcome and 使い方, the 配信設定
dialog, notices, the newcomer series, 安否確認 and the disaster menu's 安否確認 and 災害情報."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from linebot.v3.messaging import (
    Action,
    DatetimePickerAction,
    LocationAction,
    Message,
    MessageAction,
    QuickReply,
    TextMessage,
)

from cityhall.line import build, postback
from cityhall.line.build import postback as button
from cityhall.line.build import quick_reply
from cityhall.line.japanese import date_ja, datetime_ja
from cityhall.notify import town
from cityhall.notify.preferences import (
    INTERESTS,
    LANGUAGES,
    MAX_CHILDREN,
    PREGNANCY_MONTHS,
    QUIET_CHOICES,
    STAGES,
    Preferences,
    month_label,
    stage,
)

DOMAIN = "notify"
TOWN = "ポケット市役所"
HOWTO_DATA = postback.encode(DOMAIN, "howto")
SETTINGS_DATA = postback.encode(DOMAIN, "settings")
FAQ_TEXT = "よくある質問"


def tap(label: str, action: str, **params: str | int) -> Action:
    return build.postback(label, postback.encode(DOMAIN, action, **params))


def _back() -> Action:
    return tap("戻る", "settings")


def _quiet_label(quiet: tuple[int, int] | None) -> str:
    return f"{quiet[0]}時〜翌{quiet[1]}時" if quiet else "なし"


def _child_line(birth: int, today: date) -> str:
    now = stage(birth, today)
    label = STAGES[now] if now else "中学校卒業"
    kind = "出産予定" if now == "pregnant" else "生まれ"
    return f"{month_label(birth)}{kind}（{label}）"


def summary(prefs: Preferences, today: date) -> str:
    district = town.BY_KEY.get(prefs.district or "")
    stopped = [label for key, (_c, label) in INTERESTS.items() if key not in prefs.interests]
    received = [label for key, (_c, label) in INTERESTS.items() if key in prefs.interests]
    children = "、".join(_child_line(c, today) for c in prefs.children) or "登録なし"
    moved_in = date_ja(prefs.moved_in, year=True) if prefs.moved_in else "未設定"
    lines = [
        f"・地域：{district.name}（{district.school}）" if district else "・地域：未設定",
        f"・受け取るお知らせ：{'、'.join(received) or 'なし（防災の緊急情報は届きます）'}",
        *([f"・配信停止中：{'、'.join(stopped)}"] if stopped else []),
        f"・お子さま：{children}",
        f"・転入日：{moved_in}",
        f"・言語：{LANGUAGES[prefs.language][1]}",
        f"・通知しない時間帯：{_quiet_label(prefs.quiet)}",
    ]
    return "\n".join(lines)


def menu(prefs: Preferences, today: date, *, lead: str = "") -> list[Message]:
    head = f"{lead}\n\n" if lead else ""
    return [
        build.text(
            f"{head}現在の配信設定です。\n{summary(prefs, today)}\n\n変更したい項目を下からお選びください。",
            tap("地域", "s_district"),
            tap("お知らせの種類", "s_interests"),
            tap("お子さま", "s_children"),
            tap("転入日", "s_moved_in"),
            tap("言語", "s_language"),
            tap("通知しない時間帯", "s_quiet"),
            tap("終了", "done"),
        )
    ]


def district_set(district: town.District) -> str:
    return f"地域を「{district.name}」（{district.school}）にしました。"


def language_set(language: str) -> str:
    return f"言語を「{LANGUAGES[language][1]}」にしました。"


def quiet_set(quiet: tuple[int, int] | None) -> str:
    return f"通知しない時間帯を「{_quiet_label(quiet)}」にしました。"


def moved_in_set(moved_in: date | None) -> str:
    return (
        f"転入日を{date_ja(moved_in, year=True)}にしました。"
        if moved_in
        else "転入日の登録を取り消しました。"
    )


def ask_district() -> list[Message]:
    choices = [tap(d.name, "set_district", d=d.key) for d in town.DISTRICTS]
    return [
        build.text(
            "お住まいの地域（町丁目）をお選びください。学区は地域から自動で決まります。\n"
            "地域にあわせて、ごみの収集日の変更や避難情報などをお届けします。",
            *choices,
            _back(),
        )
    ]


def ask_interests(prefs: Preferences) -> list[Message]:
    lines = [
        f"{'✓ 受け取る' if key in prefs.interests else '× 配信停止'}：{label}"
        for key, (_c, label) in INTERESTS.items()
    ]
    choices = [
        tap(f"{'停止' if key in prefs.interests else '再開'}：{label}", "toggle", i=key)
        for key, (_c, label) in INTERESTS.items()
    ]
    return [
        build.text(
            "受け取るお知らせの種類です。ボタンをタップするたびに、受け取る／配信停止が切り替わります。\n"
            + "\n".join(lines)
            + "\n\n※避難指示などの緊急情報は、設定にかかわらずお届けします。",
            *choices,
            _back(),
        )
    ]


def _date_picker(label: str, action: str, today: date, *, ahead_months: int = 0) -> DatetimePickerAction:
    year, month = divmod(today.year * 12 + today.month - 1 + ahead_months, 12)
    latest = date(year, month + 1, 28) if ahead_months else today
    return DatetimePickerAction(
        label=label,
        data=postback.encode(DOMAIN, action),
        mode="date",
        max=latest.isoformat(),
        min=date(today.year - 20, 1, 1).isoformat(),
    )


def ask_children(prefs: Preferences, today: date) -> list[Message]:
    lines = [f"・{_child_line(c, today)}" for c in prefs.children] or ["・登録なし"]
    adding = (
        [_date_picker("生年月を選ぶ", "add_child", today, ahead_months=PREGNANCY_MONTHS)]
        if len(prefs.children) < MAX_CHILDREN
        else []
    )
    removing = [tap(f"削除：{month_label(c)}", "del_child", m=c) for c in prefs.children]
    return [
        build.text(
            "お子さまの生年月（妊娠中の方は出産予定月）を登録すると、年齢にあわせた子育て・健診のお知らせをお届けします。"
            "年齢の区分（0歳、1–2歳、3–5歳、小学生、中学生）は毎日自動で更新されます。\n"
            + "\n".join(lines)
            + f"\n\n「生年月を選ぶ」をタップするか、「2023年5月」のように文章でお送りください（{MAX_CHILDREN}人まで）。",
            *adding,
            *removing,
            _back(),
        )
    ]


def ask_moved_in(today: date) -> list[Message]:
    return [
        build.text(
            "転入された日を教えてください。転入された方向けのご案内（ごみの出し方、子育て支援、防災）を順にお届けします。\n"
            "「日付を選ぶ」をタップするか、「2026年4月1日」のように文章でお送りください。",
            _date_picker("日付を選ぶ", "set_moved_in", today),
            tap("登録しない", "set_moved_in", none=1),
            _back(),
        )
    ]


def ask_language() -> list[Message]:
    choices = [tap(label, "set_language", l=key) for key, (_c, label) in LANGUAGES.items()]
    return [
        build.text(
            "お知らせを受け取る言語をお選びください。その言語のお知らせがないときは日本語でお届けします。\n"
            "Please choose your language. / 请选择语言。 / 언어를 선택하세요. / Vui lòng chọn ngôn ngữ.",
            *choices,
            _back(),
        )
    ]


def ask_quiet() -> list[Message]:
    choices = [tap(_quiet_label(q), "set_quiet", q=f"{q[0]}-{q[1]}") for q in QUIET_CHOICES]
    return [
        build.text(
            "お知らせを通知しない時間帯をお選びください。この時間帯のお知らせは、時間帯が終わってからお届けします。\n"
            "※避難指示などの緊急情報は、時間帯にかかわらずすぐにお届けします。",
            *choices,
            tap("なし", "set_quiet", q="none"),
            _back(),
        )
    ]


def bad_month(today: date) -> list[Message]:
    return [
        build.text(
            "申し訳ありません、生年月を読み取れませんでした。「2023年5月」のようにお送りいただくか、"
            f"「生年月を選ぶ」をタップしてください。出産予定月は{PREGNANCY_MONTHS}か月先まで登録できます。",
            _date_picker("生年月を選ぶ", "add_child", today, ahead_months=PREGNANCY_MONTHS),
            _back(),
        )
    ]


def bad_date(today: date) -> list[Message]:
    return [
        build.text(
            "申し訳ありません、日付を読み取れませんでした。「2026年4月1日」のようにお送りいただくか、"
            "「日付を選ぶ」をタップしてください（今日より後の日付は登録できません）。",
            _date_picker("日付を選ぶ", "set_moved_in", today),
            _back(),
        )
    ]


def too_many_children() -> list[Message]:
    return [
        build.text(
            f"申し訳ありません、お子さまは{MAX_CHILDREN}人まで登録できます。先にどなたかを削除してください。",
            tap("お子さま", "s_children"),
            _back(),
        )
    ]


def use_buttons() -> list[Message]:
    return [
        build.text(
            "恐れ入りますが、下のボタンから変更したい項目をお選びください。",
            tap("配信設定", "settings"),
            tap("終了", "done"),
        )
    ]


def saved(prefs: Preferences, today: date) -> list[Message]:
    return [
        build.text(
            f"配信設定を保存しました。\n{summary(prefs, today)}\n\n"
            "設定はメニューの「配信設定」からいつでも変更できます。"
        )
    ]


def stale() -> list[Message]:
    return [
        build.text(
            "このボタンは有効期限が切れています。お手数ですが、画面下のメニューの「配信設定」からやり直してください。",
            tap("配信設定", "settings"),
        )
    ]


def forgotten() -> list[Message]:
    return [
        build.text(
            "お客さまの個人情報は、ご依頼により消去しております。そのため、配信設定をお受けできません。"
            "お手数ですが、広報・お知らせの担当までお電話でお問い合わせください。"
        )
    ]


MAX_NOTICE_TEXT = 4000
"""Characters of a notice's text (LINE takes 5,000 in a text message; the heading takes some)."""


CARD_LABELS: dict[str, dict[str, str]] = {
    "ja": {"notice": "お知らせ", "alert": "緊急", "when": "日時", "where": "場所", "fee": "参加費",
           "apply": "申込み", "area": "対象地域", "kind": "ごみの種類", "before": "変更前",
           "after": "変更後", "more": "詳しく見る"},
    "easy": {"notice": "おしらせ", "alert": "きんきゅう", "when": "いつ", "where": "ばしょ", "fee": "おかね",
             "apply": "もうしこみ", "area": "ちいき", "kind": "ごみの しゅるい", "before": "まえの ひ",
             "after": "あたらしい ひ", "more": "くわしく みる"},
    "en": {"notice": "Notice", "alert": "Emergency", "when": "Date and time", "where": "Place", "fee": "Fee",
           "apply": "How to apply", "area": "Area", "kind": "Type of garbage", "before": "Old date",
           "after": "New date", "more": "More details"},
    "zh": {"notice": "通知", "alert": "紧急", "when": "日期时间", "where": "地点", "fee": "费用",
           "apply": "报名方式", "area": "对象地区", "kind": "垃圾种类", "before": "变更前", "after": "变更后",
           "more": "查看详情"},
    "ko": {"notice": "알림", "alert": "긴급", "when": "일시", "where": "장소", "fee": "참가비",
           "apply": "신청 방법", "area": "대상 지역", "kind": "쓰레기 종류", "before": "변경 전",
           "after": "변경 후", "more": "자세히 보기"},
    "vi": {"notice": "Thông báo", "alert": "Khẩn cấp", "when": "Thời gian", "where": "Địa điểm",
           "fee": "Phí tham gia", "apply": "Cách đăng ký", "area": "Khu vực", "kind": "Loại rác",
           "before": "Ngày cũ", "after": "Ngày mới", "more": "Xem chi tiết"},
}  # fmt: skip
"""The fixed words of a notice (its heading, and its card: `composer`), in each language a notice may go out in."""


def notice_heading(title: str, *, alert: bool, lang: str = "ja") -> str:
    """【お知らせ】 or 【緊急】 and the title, in the notice's language (`CARD_LABELS`)."""
    labels = CARD_LABELS.get(lang, CARD_LABELS["ja"])
    return f"【{labels['alert' if alert else 'notice']}】{title}"


def notice(title: str, text: str, *, alert: bool, lang: str = "ja") -> list[Message]:
    """A notice as residents get it: its heading, then the staff's text."""
    return [build.text(f"{notice_heading(title, alert=alert, lang=lang)}\n\n{text}")]


NEWCOMER_STEPS: tuple[tuple[int, int, str, str, str], ...] = (
    (
        0,
        10,
        "gomi",
        "ごみの出し方",
        "ポケット市へようこそ。ごみは地域ごとに収集日が決まっています。燃やすごみは週2回、資源は週1回です。"
        "収集日は配信設定の地域にあわせてお知らせします。",
    ),
    (
        7,
        10,
        "kosodate",
        "子育て支援のご案内",
        "転入から1週間がたちました。児童手当や子ども医療費助成は、転入後15日以内の申請が必要なものがあります。"
        "お子さまがいらっしゃる方は、子育て支援課の窓口またはメニューの「予約」からご相談ください。",
    ),
    (
        30,
        10,
        "bosai",
        "防災のご案内",
        "転入から1か月がたちました。お住まいの地域の避難所を、メニューの「防災/避難所」で確かめておきましょう。"
        "緊急情報は、配信設定にかかわらずこのアカウントでお届けします。",
    ),
)
"""The newcomer series as notify first offers it: (day after 転入日, hour, interest, title, text).
Staff edit it on the dashboard (`newcomer_steps`)."""


def newcomer(title: str, text: str) -> list[Message]:
    return notice(title, text, alert=False)


def safety_check(check_id: uuid.UUID, title: str) -> list[Message]:
    """The 安否確認 question, sent through the alert lane."""
    return [
        build.text(
            f"【安否確認】{title}\nご無事ですか。下のボタンでお知らせください。支援が必要な方には、市の職員が順にご連絡します。",
            tap("無事です", "safety", k=check_id.hex, s="safe"),
            tap("支援が必要です", "safety", k=check_id.hex, s="help"),
        )
    ]


def safe_recorded() -> list[Message]:
    return [
        build.text(
            "ご無事とのご回答を受け付けました。ありがとうございます。引き続き、市からの情報にご注意ください。"
        )
    ]


def ask_help_details(check_id: uuid.UUID) -> list[Message]:
    return [
        build.text(
            "支援が必要な方として受け付けました。\n"
            "差し支えなければ、いまの状況（けが、必要なもの、一緒にいる方など）を文章で、いらっしゃる場所を位置情報でお送りください。",
            LocationAction(label="位置情報を送る"),
            tap("これで終わる", "safety", k=check_id.hex, s="done"),
        )
    ]


def help_noted(check_id: uuid.UUID, what: str) -> list[Message]:
    return [
        build.text(
            f"{what}を受け付けました。ほかにお伝えいただくことがあれば、続けてお送りください。",
            LocationAction(label="位置情報を送る"),
            tap("これで終わる", "safety", k=check_id.hex, s="done"),
        )
    ]


def help_done() -> list[Message]:
    return [
        build.text(
            "ありがとうございました。市の職員が順にご連絡します。命に関わるときは、ためらわずに119番へ通報してください。"
        )
    ]


def safety_stale() -> list[Message]:
    return [
        build.text(
            "この安否確認は受付を終えているか、見つかりませんでした。緊急のときは119番へ通報してください。"
        )
    ]


def safety_use_buttons(check_id: uuid.UUID) -> list[Message]:
    return [
        build.text(
            "恐れ入りますが、状況は文章で、場所は位置情報でお送りください。",
            LocationAction(label="位置情報を送る"),
            tap("これで終わる", "safety", k=check_id.hex, s="done"),
        )
    ]


# --- the disaster menu (disaster mode) -------------------------------------------------------

ALERT_EXCERPT = 400
"""Characters of each alert shown by 災害情報 (three fit well within LINE's 5,000)."""


def no_safety_check() -> list[Message]:
    return [
        build.text(
            "現在、市からの安否確認は行っていません。安否確認を始めたときは、このアカウントでお知らせします。\n"
            "けがをした方がいる、閉じ込められているなど命に関わるときは、ためらわずに119番へ通報してください。"
        )
    ]


def recent_alerts(alerts: list[dict[str, Any]]) -> list[Message]:
    """災害情報: the emergency alerts of the last days, newest first."""
    if not alerts:
        return [
            build.text(
                "現在、市から発表している緊急情報はありません。\n"
                "テレビ・ラジオや防災行政無線の情報にも、引き続きご注意ください。"
            )
        ]
    parts = []
    for alert in alerts:
        text = str(alert.get("texts", {}).get("ja", ""))
        if len(text) > ALERT_EXCERPT:
            text = text[: ALERT_EXCERPT - 1] + "…"
        parts.append(f"■{alert.get('title', '')}（{datetime_ja(alert['sent_at'])}）\n{text}")
    return [build.text("市が発表した緊急情報です（新しい順）。\n\n" + "\n\n".join(parts))]


# --- the welcome and 使い方 -------------------------------------------------------------------


def quick_replies(*, howto: bool = True) -> QuickReply:
    guide = [button("使い方", HOWTO_DATA)] if howto else []
    return quick_reply(
        *guide, MessageAction(label=FAQ_TEXT, text=FAQ_TEXT), button("配信設定", SETTINGS_DATA)
    )


DISASTER_MENU_NOTE = (
    "\n【ただいま災害時メニューを表示しています】\n"
    "災害への対応のため、画面下のメニューを「避難所・安否確認・災害情報・問い合わせ」に切り替えています。"
    "対応が終わると、ふだんの次のメニューに戻ります。\n"
)
"""Added to the welcome while disaster mode is on (the menu the resident sees is the disaster one)."""


def welcome(*, returning: bool = False, disaster: bool = False) -> list[Message]:
    greeting = (
        f"おかえりなさい。{TOWN}の公式アカウントを再び友だちに追加していただき、ありがとうございます。"
        if returning
        else f"友だち追加ありがとうございます。{TOWN}の公式アカウントです。"
    )
    if disaster:
        greeting += DISASTER_MENU_NOTE
    text = (
        f"{greeting}\n"
        "このアカウントでは、窓口に来なくてもできる手続きやお問い合わせを受け付けています。\n"
        "\n"
        "画面下のメニューから、次のことができます。\n"
        "・証明書：住民票の写しなどを申請できます\n"
        "・予約：窓口での相談や各種の予約ができます\n"
        "・通報：道路や公園の傷みを写真でお知らせいただけます\n"
        "・防災/避難所：近くの避難所や防災情報を確かめられます\n"
        "・配信設定：受け取るお知らせを選べます\n"
        "・よくある質問：よくあるお問い合わせにお答えします\n"
        "・市民の声：市政へのご意見・ご提案をお寄せいただけます\n"
        "・使い方：このアカウントの使い方をご案内します\n"
        "\n"
        "詳しい使い方は、下の「使い方」をタップしてご覧ください。"
    )
    return [TextMessage(text=text, quick_reply=quick_replies())]


def howto() -> list[Message]:
    text = (
        "使い方のご案内です。メニューはいつでも画面下から開けます。\n"
        "\n"
        "【証明書】住民票の写しや印鑑登録証明書などを申請できます。本人確認のあと、ご自宅へ郵送します。\n"
        "【予約】窓口での相談、子育て相談、予防接種、施設の利用、粗大ごみの収集を予約できます。\n"
        "【通報】道路の穴や公園の遊具の傷み、落書きなどを、写真と場所を添えてお知らせください。\n"
        "【防災/避難所】お近くの避難所を探したり、防災情報を確かめたりできます。\n"
        "【配信設定】防災情報やイベントなど、受け取りたいお知らせを選べます。\n"
        "【よくある質問】ごみの出し方や手続きなど、よくあるご質問にお答えします。\n"
        "【市民の声】市政へのご意見やご提案を、文章でお寄せいただけます。担当の職員が拝見し、必要に応じてこのトークでお答えします。\n"
        "【回覧板】町内会・自治会の回覧板をこのトークで受け取れます。「回覧板」とお送りいただくと、"
        "町内会への参加の申込みや、届いた回覧板の確認ができます。\n"
        "\n"
        "わからないことがあれば、このトークにそのまま文章でお送りください。"
    )
    return [TextMessage(text=text, quick_reply=quick_replies(howto=False))]


def not_understood() -> list[Message]:
    text = "申し訳ありません、うまく読み取れませんでした。画面下のメニューから、ご用件をお選びください。"
    return [TextMessage(text=text, quick_reply=quick_replies())]
