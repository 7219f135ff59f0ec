"""What the transcription bot says, in English and Indonesian.

The language is the one the user picked with /language, else the one
Telegram reports for the user (``language_code``): Indonesian for ``id``
(and the old code ``in``), English for everything else.
"""

from __future__ import annotations

from typing import Final

from sluice.apps._texts import pick, ui_language

__all__ = ["FORMATS", "LANGUAGES", "t", "ui_language"]

LANGUAGES: Final = ("en", "id")
FORMATS: Final = ("message", "txt", "srt", "vtt")

_TEXTS: Final[dict[str, dict[str, str]]] = {
    "start": {
        "en": (
            "Hi! Send me a voice note, audio, video, video note or an audio/video file, "
            "of any length, and I will send back what is said in it.\n\n/help lists what I can do."
        ),
        "id": (
            "Halo! Kirimkan pesan suara, audio, video, video bulat, atau file audio/video, "
            "sepanjang apa pun, dan saya kirimkan teks ucapannya.\n\n"
            "/help menampilkan apa saja yang bisa saya lakukan."
        ),
    },
    "help": {
        "en": (
            "Send any voice note, audio or video and get its transcript.\n\n"
            "/status - your jobs, providers and cache\n"
            "/provider - which speech-to-text service to try first\n"
            "/language - the language spoken (or auto)\n"
            "/format - message, .txt, .srt or .vtt\n"
            "/revoke - cancel your running transcription"
        ),
        "id": (
            "Kirim pesan suara, audio, atau video apa pun dan dapatkan transkripnya.\n\n"
            "/status - pekerjaan Anda, penyedia, dan cache\n"
            "/provider - layanan speech-to-text yang dicoba pertama\n"
            "/language - bahasa yang diucapkan (atau otomatis)\n"
            "/format - pesan, .txt, .srt, atau .vtt\n"
            "/revoke - batalkan transkripsi yang sedang berjalan"
        ),
    },
    "queued": {
        "en": "Queued ({position} ahead of you).",
        "id": "Dalam antrean ({position} sebelum Anda).",
    },
    "downloading": {"en": "Downloading {percent} %", "id": "Mengunduh {percent} %"},
    "converting": {"en": "Converting {percent} %", "id": "Mengonversi {percent} %"},
    "transcribing": {
        "en": "Transcribing chunk {done}/{total}",
        "id": "Mentranskripsi bagian {done}/{total}",
    },
    "transcribing_seconds": {
        "en": "Transcribing {seconds}/{of} s",
        "id": "Mentranskripsi {seconds}/{of} detik",
    },
    "waiting_model": {
        "en": "Waiting for the speech model ({ahead} ahead of you).",
        "id": "Menunggu model suara ({ahead} sebelum Anda).",
    },
    "done": {"en": "Done.", "id": "Selesai."},
    "from_cache": {"en": "Done (from cache).", "id": "Selesai (dari cache)."},
    "too_many": {
        "en": "You already have {cap} files waiting. Send this one again when one is done.",
        "id": "Sudah ada {cap} file Anda yang menunggu. Kirim lagi setelah salah satunya selesai.",
    },
    "too_large": {
        "en": "This file is {size} MB; the largest I can fetch is {limit} MB.",
        "id": "File ini {size} MB; yang terbesar yang bisa saya ambil {limit} MB.",
    },
    "unsupported": {
        "en": "I can transcribe voice notes, audio, video and audio/video files only.",
        "id": "Saya hanya bisa mentranskripsi pesan suara, audio, video, dan file audio/video.",
    },
    "corrupt": {
        "en": "I could not read any audio in this file: it seems damaged or has no sound track.",
        "id": "Saya tidak bisa membaca audio di file ini: mungkin rusak atau tanpa trek suara.",
    },
    "silent": {
        "en": "I heard no speech in this recording.",
        "id": "Saya tidak mendengar ucapan apa pun dalam rekaman ini.",
    },
    "providers_down": {
        "en": (
            "Every speech-to-text service is unavailable right now. Your file is kept "
            "and I will try again in about {seconds} s."
        ),
        "id": (
            "Semua layanan speech-to-text sedang tidak tersedia. File Anda disimpan "
            "dan saya coba lagi sekitar {seconds} detik lagi."
        ),
    },
    "failed": {
        "en": "Sorry, this transcription failed: {reason}",
        "id": "Maaf, transkripsi ini gagal: {reason}",
    },
    "cancelled": {"en": "Cancelled.", "id": "Dibatalkan."},
    "revoked": {
        "en": "Cancelled {count} job(s).",
        "id": "{count} pekerjaan dibatalkan.",
    },
    "nothing_to_revoke": {
        "en": "You have nothing running or waiting.",
        "id": "Tidak ada yang sedang berjalan atau menunggu.",
    },
    "status": {
        "en": "Your jobs:\n{jobs}\n\nProviders:\n{providers}\n\nCache hit rate: {hit_rate} %",
        "id": "Pekerjaan Anda:\n{jobs}\n\nPenyedia:\n{providers}\n\nCache hit rate: {hit_rate} %",
    },
    "no_jobs": {"en": "none", "id": "tidak ada"},
    "choose_provider": {
        "en": "Which service should I try first? (The others still take over if it fails.)",
        "id": "Layanan mana yang dicoba pertama? (Yang lain tetap menggantikan jika gagal.)",
    },
    "provider_set": {"en": "I will try {name} first.", "id": "Saya akan mencoba {name} dulu."},
    "choose_language": {
        "en": "Which language is spoken in your recordings?",
        "id": "Bahasa apa yang diucapkan dalam rekaman Anda?",
    },
    "language_set": {"en": "Spoken language: {name}.", "id": "Bahasa ucapan: {name}."},
    "auto": {"en": "detect automatically", "id": "deteksi otomatis"},
    "choose_format": {
        "en": "How should transcripts arrive?",
        "id": "Dalam bentuk apa transkrip dikirim?",
    },
    "format_set": {"en": "Format: {name}.", "id": "Format: {name}."},
    "owner_only": {"en": "Only the bot's owner can use this.", "id": "Hanya pemilik bot."},
    "botstats": {
        "en": (
            "Users: {users}\nJobs: {jobs}\nCache: {entries} entries, {megabytes} MB, "
            "hit rate {hit_rate} %\nProviders:\n{providers}"
        ),
        "id": (
            "Pengguna: {users}\nPekerjaan: {jobs}\nCache: {entries} entri, {megabytes} MB, "
            "hit rate {hit_rate} %\nPenyedia:\n{providers}"
        ),
    },
}


def t(language: str, key: str, **values: object) -> str:
    """The text ``key`` in ``language`` (English when missing), filled with ``values``."""
    return pick(_TEXTS, language, key, **values)
