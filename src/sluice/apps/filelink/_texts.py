"""What the file-to-link bot says, in English and Indonesian.

The language is the one Telegram reports for the user (``language_code``):
Indonesian for ``id`` (and the old code ``in``), English for everything else.
"""

from __future__ import annotations

from typing import Final

from sluice.apps._texts import pick, ui_language

__all__ = ["LANGUAGES", "human_size", "t", "ui_language"]

LANGUAGES: Final = ("en", "id")

_TEXTS: Final[dict[str, dict[str, str]]] = {
    "start": {
        "en": (
            "Hi! Send me any file (document, video, audio, voice, photo, animation) and I "
            "will give you a link to download it, or to watch it in a browser, at full "
            "speed and with seeking.\n\n/help lists what I can do."
        ),
        "id": (
            "Halo! Kirimkan file apa pun (dokumen, video, audio, pesan suara, foto, animasi) "
            "dan saya berikan tautan untuk mengunduhnya, atau menontonnya di browser, dengan "
            "kecepatan penuh dan bisa dilompati.\n\n/help menampilkan apa saja yang bisa saya "
            "lakukan."
        ),
    },
    "help": {
        "en": (
            "Send a file (up to {limit}) and get its download link; videos and audio also "
            "get a watch link. One file at a time.\n\n"
            "/files - your links, with buttons to get or delete each one\n"
            "/del <n> - delete link number n of /files (or reply /del to my link message)\n"
            "/status - your links and the file I am working on\n"
            "/revoke - cancel the file I am working on\n"
            "/revokeall - every link you were given stops working"
        ),
        "id": (
            "Kirim file (hingga {limit}) dan dapatkan tautan unduhannya; video dan audio "
            "juga mendapat tautan tonton. Satu file setiap kali.\n\n"
            "/files - tautan Anda, dengan tombol untuk mengambil atau menghapus masing-masing\n"
            "/del <n> - hapus tautan nomor n dari /files (atau balas pesan tautan saya "
            "dengan /del)\n"
            "/status - tautan Anda dan file yang sedang saya proses\n"
            "/revoke - batalkan file yang sedang saya proses\n"
            "/revokeall - semua tautan yang pernah Anda terima berhenti berfungsi"
        ),
    },
    "help_owner": {
        "en": (
            "\n\nOwner:\n/botstats - the bots of the pool and what they served\n"
            "/ban <user id>, /unban <user id> - a banned user's links stop serving\n"
            "/broadcast - reply with it to a message to send that message to every user"
        ),
        "id": (
            "\n\nPemilik:\n/botstats - bot dalam pool dan apa yang sudah dilayani\n"
            "/ban <id pengguna>, /unban <id pengguna> - tautan pengguna yang diblokir "
            "berhenti dilayani\n"
            "/broadcast - balas sebuah pesan dengan perintah ini untuk mengirimnya ke semua "
            "pengguna"
        ),
    },
    "banned": {
        "en": "You can no longer use this bot.",
        "id": "Anda tidak bisa lagi menggunakan bot ini.",
    },
    "too_large": {
        "en": "{name} is {size}; the largest file I can take is {limit}.",
        "id": "{name} berukuran {size}; file terbesar yang bisa saya terima {limit}.",
    },
    "busy": {
        "en": (
            "I am still working on {name}. Wait for its link before sending the next "
            "file, or send /revoke to cancel it."
        ),
        "id": (
            "Saya masih memproses {name}. Tunggu tautannya sebelum mengirim file berikutnya, "
            "atau kirim /revoke untuk membatalkannya."
        ),
    },
    "ready": {
        "en": "{name} ({size})\n\nDownload: {download}",
        "id": "{name} ({size})\n\nUnduh: {download}",
    },
    "ready_watch": {"en": "\nWatch: {watch}", "id": "\nTonton: {watch}"},
    "download_button": {"en": "Download", "id": "Unduh"},
    "watch_button": {"en": "Watch", "id": "Tonton"},
    "timed_out": {
        "en": "{name} took longer than {limit} and was dropped. Send it again to retry.",
        "id": "{name} memakan waktu lebih dari {limit} dan dibatalkan. Kirim lagi untuk mencoba.",
    },
    "failed": {
        "en": "Sorry, I could not keep {name}: {reason}",
        "id": "Maaf, saya tidak bisa menyimpan {name}: {reason}",
    },
    "unexpected": {"en": "something went wrong", "id": "terjadi kesalahan"},
    "revoked_request": {
        "en": "Cancelled: {name}. You can send another file now.",
        "id": "Dibatalkan: {name}. Anda bisa mengirim file lain sekarang.",
    },
    "nothing_pending": {
        "en": "I am not working on any file of yours.",
        "id": "Tidak ada file Anda yang sedang saya proses.",
    },
    "files_empty": {
        "en": "You have no links yet: send me a file.",
        "id": "Anda belum punya tautan: kirimkan saya sebuah file.",
    },
    "files_head": {
        "en": "Your links ({total}), page {page} of {pages}:",
        "id": "Tautan Anda ({total}), halaman {page} dari {pages}:",
    },
    "link_button": {"en": "{n}. link", "id": "{n}. tautan"},
    "delete_button": {"en": "{n}. delete", "id": "{n}. hapus"},
    "previous_button": {"en": "Previous", "id": "Sebelumnya"},
    "next_button": {"en": "Next", "id": "Berikutnya"},
    "deleted": {
        "en": "Deleted: {name}. Its link no longer works.",
        "id": "Dihapus: {name}. Tautannya tidak berfungsi lagi.",
    },
    "not_yours": {"en": "This is not your link.", "id": "Ini bukan tautan Anda."},
    "gone": {
        "en": "This link was already deleted.",
        "id": "Tautan ini sudah dihapus.",
    },
    "del_usage": {
        "en": "Send /del <n> with the number /files shows, or reply /del to my link message.",
        "id": (
            "Kirim /del <n> dengan nomor yang ditampilkan /files, atau balas pesan tautan "
            "saya dengan /del."
        ),
    },
    "del_not_found": {
        "en": "I found no link of yours there. /files lists them.",
        "id": "Saya tidak menemukan tautan Anda di situ. /files menampilkan daftarnya.",
    },
    "status": {
        "en": "Your links: {links}\n{pending}",
        "id": "Tautan Anda: {links}\n{pending}",
    },
    "status_pending": {
        "en": "Working on: {name} (for {seconds} s).",
        "id": "Sedang diproses: {name} (selama {seconds} detik).",
    },
    "status_idle": {
        "en": "No file in progress.",
        "id": "Tidak ada file yang sedang diproses.",
    },
    "revokeall_confirm": {
        "en": (
            "Every link you were given so far will stop working, for whoever has it. "
            "Your files stay in /files, where you can get fresh links. Go ahead?"
        ),
        "id": (
            "Semua tautan yang pernah Anda terima akan berhenti berfungsi, bagi siapa pun "
            "yang memilikinya. File Anda tetap ada di /files, tempat Anda bisa mengambil "
            "tautan baru. Lanjutkan?"
        ),
    },
    "revokeall_yes": {"en": "Yes, revoke them all", "id": "Ya, cabut semuanya"},
    "revokeall_no": {"en": "No, keep them", "id": "Tidak, biarkan"},
    "revokeall_done": {
        "en": "Done: every link you were given so far no longer works.",
        "id": "Selesai: semua tautan yang pernah Anda terima tidak berfungsi lagi.",
    },
    "revokeall_kept": {
        "en": "Nothing changed: your links still work.",
        "id": "Tidak ada yang berubah: tautan Anda masih berfungsi.",
    },
    "owner_only": {
        "en": "Only the bot's owner can use this.",
        "id": "Hanya pemilik bot yang bisa menggunakan ini.",
    },
    "ban_usage": {"en": "Send /{command} <user id>.", "id": "Kirim /{command} <id pengguna>."},
    "banned_user": {
        "en": "User {user} is banned: their links no longer serve.",
        "id": "Pengguna {user} diblokir: tautannya tidak dilayani lagi.",
    },
    "unbanned_user": {
        "en": "User {user} is no longer banned: their links serve again.",
        "id": "Pengguna {user} tidak diblokir lagi: tautannya dilayani kembali.",
    },
    "broadcast_usage": {
        "en": "Reply /broadcast to the message to send to every user.",
        "id": "Balas pesan yang akan dikirim ke semua pengguna dengan /broadcast.",
    },
    "broadcast_unavailable": {
        "en": "Broadcasts are not set up in this bot.",
        "id": "Siaran tidak disiapkan di bot ini.",
    },
    "broadcast_started": {
        "en": "Broadcast to {total} users: starting.",
        "id": "Siaran ke {total} pengguna: dimulai.",
    },
    "broadcast_progress": {
        "en": "Broadcast: {done} of {total} sent, {delivered} delivered.",
        "id": "Siaran: {done} dari {total} terkirim, {delivered} sampai.",
    },
    "broadcast_done": {
        "en": (
            "Broadcast finished: {total} users, {delivered} delivered, {blocked} blocked "
            "the bot, {failed} failed."
        ),
        "id": (
            "Siaran selesai: {total} pengguna, {delivered} sampai, {blocked} memblokir bot, "
            "{failed} gagal."
        ),
    },
    "broadcast_stopped": {
        "en": (
            "Broadcast stopped before the end: {done} of {total} sent, {delivered} "
            "delivered, {blocked} blocked the bot, {failed} failed."
        ),
        "id": (
            "Siaran berhenti sebelum selesai: {done} dari {total} terkirim, {delivered} "
            "sampai, {blocked} memblokir bot, {failed} gagal."
        ),
    },
    "botstats": {
        "en": (
            "Files kept: {files} ({size})\nLive links: {links} of {owners} owners\n"
            "Users: {users}\nFiles in progress: {pending}"
        ),
        "id": (
            "File tersimpan: {files} ({size})\nTautan aktif: {links} dari {owners} pemilik\n"
            "Pengguna: {users}\nFile sedang diproses: {pending}"
        ),
    },
    "botstats_bot": {
        "en": (
            "bot {account}: {streams} streams now, {served} served, {floods} flood waits, "
            "{failures} failures; {health}"
        ),
        "id": (
            "bot {account}: {streams} stream sekarang, {served} dilayani, {floods} flood wait, "
            "{failures} kegagalan; {health}"
        ),
    },
    "botstats_botapi": {
        "en": "Files are served through the Bot API (no MTProto pool).",
        "id": "File dilayani lewat Bot API (tanpa pool MTProto).",
    },
    "health_ok": {"en": "healthy", "id": "sehat"},
    "health_paused": {"en": "paused", "id": "dijeda"},
    "health_flood": {
        "en": "waiting out a flood wait ({seconds} s)",
        "id": "menunggu flood wait ({seconds} detik)",
    },
    "health_storage": {
        "en": "cannot read the storage channel: {reason}",
        "id": "tidak bisa membaca kanal penyimpanan: {reason}",
    },
    "minutes": {"en": "{n} min", "id": "{n} menit"},
    "seconds": {"en": "{n} s", "id": "{n} detik"},
}


def t(language: str, key: str, **values: object) -> str:
    """The text ``key`` in ``language`` (English when missing), filled with ``values``."""
    return pick(_TEXTS, language, key, **values)


def human_size(size: int) -> str:
    """``size`` bytes as people read it: 512 bytes, 1.5 MB, 4 GB (powers of 1024)."""
    value, unit = float(size), "bytes"
    for larger in ("KB", "MB", "GB", "TB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    if unit == "bytes":
        return f"{size} bytes"
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"
