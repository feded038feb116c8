"""Every word the console shows, in Bahasa Indonesia and English, and the reporter's answers in
words: option labels come from the flow's own texts (``flows/definitions/texts.*.yaml``), so an
officer reads what the reporter was shown, and region names from the Kemendagri list."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from api.schemas import ReportSummary
from flows.machine import Flows
from storage.simfoni import WIB

LANGUAGES = ("id", "en")
# Officers work in western Indonesia mostly; one zone, named (WIB, the SIMFONI export's reporting
# day too), keeps times unambiguous on a shared screen (the API itself speaks UTC).

STRINGS: dict[str, dict[str, str]] = {
    "id": {
        "app": "Lapor Aman — Konsol Petugas",
        "skip": "Langsung ke isi",
        "switch": "English",
        "login.title": "Masuk",
        "login.username": "Nama pengguna",
        "login.password": "Kata sandi",
        "login.submit": "Masuk",
        "login.failed": "Nama pengguna atau kata sandi salah, atau akun terkunci sementara.",
        "login.expired": "Sesi berakhir karena lama tidak aktif. Silakan masuk lagi.",
        "login.out": "Anda sudah keluar.",
        "logout": "Keluar",
        "nav.queue": "Antrean",
        "nav.team": "Tim",
        "nav.audit": "Log audit",
        "nav.stats": "Statistik",
        "nav.admin": "Lembaga & petugas",
        "signed_in_as": "Masuk sebagai",
        "queue.title": "Antrean laporan",
        "queue.live": "Diperbarui otomatis setiap 5 detik.",
        "queue.empty": "Tidak ada laporan yang cocok.",
        "filter.status": "Status",
        "filter.priority": "Prioritas",
        "filter.mine": "Hanya yang saya pegang",
        "filter.any": "Semua (kecuali ditutup)",
        "filter.all": "Semua",
        "filter.apply": "Terapkan",
        "col.priority": "Prioritas",
        "col.reference": "Kode",
        "col.age": "Masuk",
        "col.region": "Wilayah",
        "col.category": "Jenis",
        "col.status": "Status",
        "col.holder": "Dipegang",
        "col.sla": "Batas klaim",
        "sla.left": "sisa {time}",
        "sla.overdue": "terlambat {time}",
        "sla.met": "sudah ditangani",
        "ago": "{time} lalu",
        "unit.min": "{n} mnt",
        "unit.hour": "{n} jam",
        "unit.day": "{n} hari",
        "danger": "Bahaya sekarang",
        "nobody": "—",
        "unknown": "tidak diisi",
        "skipped": "dilewati",
        "just_now": "baru saja",
        "report.title": "Laporan {reference}",
        "report.answers": "Jawaban pelapor",
        "report.story": "Cerita (nomor, e-mail, NIK dan kode disamarkan)",
        "report.no_story": "Pelapor tidak menulis cerita.",
        "report.attachments": "Bukti",
        "report.no_attachments": "Tidak ada berkas bukti.",
        "report.download": "Unduh",
        "report.bytes": "{size} KB",
        "report.timeline": "Riwayat",
        "report.no_timeline": "Belum ada tindakan.",
        "report.actions": "Tindakan",
        "report.agency": "Lembaga",
        "report.received": "Diterima",
        "report.back": "Kembali ke antrean",
        "action.claim": "Ambil laporan ini",
        "action.release": "Kembalikan ke antrean",
        "action.start": "Mulai menangani",
        "action.refer": "Tandai dirujuk",
        "action.resolve": "Tandai selesai ditangani",
        "action.close": "Tutup kasus",
        "action.reopen": "Buka kembali",
        "action.reason": "Alasan (tidak wajib)",
        "note.title": "Catatan internal",
        "note.hint": "Tidak pernah dilihat pelapor.",
        "note.submit": "Simpan catatan",
        "referral.title": "Rujukan",
        "referral.consent": "Pelapor meminta bantuan:",
        "referral.none": "Pelapor tidak meminta bantuan apa pun, jadi rujukan tidak bisa dibuat.",
        "referral.service": "Layanan",
        "referral.organisation": "Lembaga tujuan",
        "referral.note": "Catatan rujukan (tidak wajib)",
        "referral.submit": "Buat rujukan",
        "message.title": "Pesan ke pelapor",
        "message.chat": "Pelapor memilih dihubungi lewat chat: pesan dikirim ke chatnya.",
        "message.later": "Pelapor tidak memilih chat: pesan dibaca saat ia mengetik status dan "
        "kodenya.",
        "message.hint": "Jangan tulis nama atau nomor kecuali perlu. Ponselnya mungkin dibaca "
        "orang lain.",
        "message.submit": "Kirim pesan",
        "assign.title": "Serahkan ke petugas",
        "assign.officer": "Petugas",
        "assign.submit": "Serahkan",
        "ok.claim": "Laporan sekarang Anda pegang.",
        "ok.release": "Laporan dikembalikan ke antrean.",
        "ok.move": "Status laporan diubah.",
        "ok.note": "Catatan disimpan.",
        "ok.referral": "Rujukan dicatat.",
        "ok.message_pushed": "Pesan dikirim ke chat pelapor.",
        "ok.message_waiting": "Pesan disimpan; pelapor membacanya saat mengecek status.",
        "ok.assign": "Laporan diserahkan.",
        "err.held": "Laporan ini sedang dipegang petugas lain.",
        "err.consent": "Pelapor tidak meminta layanan ini, jadi rujukan ini tidak bisa dibuat.",
        "err.claim_first": "Ambil laporan ini dulu.",
        "err.closed": "Kasus ini sudah ditutup; buka kembali dulu.",
        "err.not_now": "Tindakan itu tidak bisa dilakukan pada status laporan sekarang.",
        "err.invalid": "Isian belum lengkap atau terlalu panjang.",
        "err.officer": "Tidak ada petugas aktif dengan nama itu di lembaga laporan ini.",
        "error.title": "Ada kendala",
        "error.404": "Halaman atau laporan tidak ditemukan, atau bukan wewenang lembaga Anda.",
        "error.403": "Permintaan ditolak. Muat ulang halaman lalu coba lagi.",
        "error.403.role": "Halaman ini hanya untuk supervisor dan admin.",
        "error.503": "Basis data sedang sibuk. Coba lagi sebentar lagi.",
        "error.500": "Terjadi kesalahan di sisi kami. Coba lagi; bila berulang, hubungi admin.",
        "error.home": "Ke antrean",
        "team.title": "Tim",
        "team.breaches": "Lewat batas klaim",
        "team.no_breaches": "Tidak ada laporan yang lewat batas klaim.",
        "team.officers": "Petugas dan laporan yang dipegang",
        "team.holding": "Dipegang",
        "team.queue": "Antrean tim",
        "audit.title": "Log audit",
        "audit.when": "Waktu",
        "audit.who": "Petugas",
        "audit.what": "Tindakan",
        "audit.report": "Laporan",
        "audit.detail": "Rincian",
        "audit.older": "Lebih lama",
        "audit.empty": "Belum ada catatan.",
        "stats.title": "Statistik",
        "stats.by": "Dihitung menurut",
        "stats.show": "Tampilkan",
        "stats.suppressed": "< 10 (disembunyikan)",
        "stats.note": "Angka 1 sampai 9 tidak pernah ditampilkan, dan angka lain ikut "
        "disembunyikan bila angka kecil bisa dihitung dari totalnya.",
        "stats.total": "Jumlah",
        "stats.empty": "Belum ada laporan.",
        "dim.category": "Jenis kekerasan",
        "dim.province": "Provinsi",
        "dim.month": "Bulan",
        "dim.priority": "Prioritas",
        "dim.reporter": "Pelapor",
        "dim.victim_age": "Usia korban",
        "admin.title": "Lembaga & petugas",
        "admin.agencies": "Lembaga",
        "admin.officers": "Petugas",
        "admin.code": "Kode",
        "admin.name": "Nama",
        "admin.regions": "Wilayah",
        "admin.national": "Nasional",
        "admin.role": "Peran",
        "admin.active": "Aktif",
        "admin.cli": "Menambah lembaga dan petugas: perintah lapor agency add dan lapor officer "
        "add.",
        "act.auth.login": "masuk",
        "act.auth.logout": "keluar",
        "act.auth.failed": "gagal masuk",
        "act.auth.locked": "gagal masuk (akun terkunci)",
        "act.report.read": "membaca laporan",
        "act.report.timeline": "membaca riwayat",
        "act.report.claim": "mengambil laporan",
        "act.report.release": "mengembalikan ke antrean",
        "act.report.assign": "menyerahkan laporan",
        "act.report.transition": "mengubah status",
        "act.report.note": "menulis catatan",
        "act.report.referral": "membuat rujukan",
        "act.report.message": "mengirim pesan ke pelapor",
        "act.report.attachment": "mengunduh bukti",
        "act.report.callback": "melihat nomor telepon pelapor",
        "act.report.escalated": "dieskalasi (kritis, belum diambil)",
        "callback.show": "Lihat nomor untuk menelepon (tercatat di log audit)",
        "callback.title": "Nomor yang diminta pelapor",
        "callback.hint": "Pelapor meminta ditelepon di nomor ini. Jangan catat di tempat lain.",
        "err.no_callback": "Pelapor tidak memberi nomor telepon.",
        "callback.back": "Kembali ke laporan",
        "queue.more": "Hanya {n} laporan pertama yang ditampilkan; pakai saringan untuk yang lain.",
        "yes": "ya",
        "no": "tidak",
        "priority.critical": "Kritis",
        "priority.high": "Tinggi",
        "priority.normal": "Biasa",
        "status.new": "Baru",
        "status.claimed": "Diambil",
        "status.in_progress": "Ditangani",
        "status.referred": "Dirujuk",
        "status.resolved": "Selesai ditangani",
        "status.closed": "Ditutup",
        "role.officer": "Petugas",
        "role.supervisor": "Supervisor",
        "role.admin": "Admin",
        "service.psychosocial": "Psikososial/konseling",
        "service.medical": "Medis",
        "service.legal": "Bantuan hukum",
        "service.shelter": "Rumah aman",
        "service.police": "Polisi",
        "service.economic": "Bantuan ekonomi",
        "event.claim": "mengambil laporan",
        "event.release": "mengembalikan ke antrean",
        "event.reassign": "menyerahkan ke {to}",
        "event.transition": "mengubah status: {from} → {to}",
        "event.note": "catatan internal",
        "event.referral": "merujuk ke {service}: {organisation}",
        "event.message.to_reporter": "pesan ke pelapor",
        "event.message.from_reporter": "pesan dari pelapor",
        "event.seen": "sudah dibaca",
        "event.unseen": "belum dibaca",
        "event.waiting": "menunggu pelapor menulis",
        "event.notified": "pelapor sudah diberi tahu lewat WhatsApp; menunggu pelapor menulis",
        "event.reporter": "pelapor",
        "nav.notifications": "Pemberitahuan",
        "duty.on": "Sedang piket",
        "duty.off": "Tidak piket",
        "duty.go_on": "Mulai piket",
        "duty.go_off": "Selesai piket",
        "duty.hint": "Status piket Anda",
        "notify.title": "Pemberitahuan",
        "notify.intro": "Saat Anda piket, laporan baru berprioritas kritis atau tinggi dikirim ke "
        "e-mail dan Telegram Anda. Isi pemberitahuan hanya nomor referensi, prioritas, wilayah, "
        "waktu diterima dan tautan ke konsol.",
        "notify.duty": "Piket",
        "notify.duty_on": "Anda sedang piket: pemberitahuan dikirim kepada Anda.",
        "notify.duty_off": "Anda tidak piket: tidak ada pemberitahuan (kecuali supervisor bila tak "
        "seorang pun piket).",
        "notify.email": "E-mail",
        "notify.email_none": "Belum ada alamat e-mail. Admin dapat mengaturnya dengan perintah "
        "`lapor officer set`.",
        "notify.telegram": "Telegram",
        "notify.telegram_linked": "Terhubung ke bot petugas.",
        "notify.telegram_unlinked": "Belum terhubung.",
        "notify.telegram_off": "Bot Telegram petugas belum diatur di server ini.",
        "notify.telegram_new": "Buat kode penghubung",
        "notify.telegram_steps": "Buka tautan ini di ponsel (atau pindai kode QR), lalu tekan "
        "Mulai. Bisa juga kirim /start dan kode ini ke bot. Kode berlaku 10 menit dan hanya "
        "sekali.",
        "notify.code": "Kode",
        "notify.link": "Tautan",
        "notify.qr": "Kode QR untuk tautan ke bot petugas",
        "notify.telegram_error": "Telegram tidak menjawab. Coba lagi sebentar lagi.",
        "notify.stop": "Untuk berhenti, kirim /stop ke bot.",
        "incoming.title": "Rujukan masuk",
        "incoming.hint": "Rujukan dari lembaga lain untuk lembaga "
        "Anda; yang menunggu jawaban di atas.",
        "incoming.empty": "Belum ada rujukan masuk.",
        "incoming.overdue": "lewat batas jawaban",
        "referral.page": "Rujukan laporan {reference}",
        "referral.directory": "Lembaga dalam sistem",
        "referral.directory_none": "Tidak ada lembaga dalam sistem yang "
        "menawarkan layanan ini di wilayah laporan.",
        "referral.to": "Lembaga penerima",
        "referral.outside": "Lembaga di luar sistem (teks bebas)",
        "referral.from": "Dari lembaga",
        "referral.note_from": "Catatan dari lembaga perujuk:",
        "referral.reason": "Alasan menolak",
        "referral.outcome": "Hasil",
        "referral.no_actions": "Tidak ada tindakan yang bisa "
        "Anda lakukan pada rujukan ini sekarang.",
        "referral.privacy": "Pesan ke pelapor tetap lewat lembaga yang "
        "memegang kasus; nomor dan alamat pelapor tidak dibagikan.",
        "referral.action.accept": "Terima rujukan",
        "referral.action.decline": "Tolak rujukan",
        "referral.action.done": "Tandai selesai",
        "referral.action.revoke": "Tarik rujukan",
        "referral.status.pending": "menunggu",
        "referral.status.accepted": "diterima",
        "referral.status.declined": "ditolak",
        "referral.status.revoked": "ditarik",
        "referral.status.done": "selesai",
        "optional": "tidak wajib",
        "ok.accept": "Rujukan diterima.",
        "ok.decline": "Rujukan ditolak.",
        "ok.done": "Rujukan ditandai selesai.",
        "ok.revoke": "Rujukan ditarik.",
        "err.wrong_side": "Tindakan itu dilakukan lembaga lain dalam rujukan ini.",
        "err.not_offered": "Lembaga itu tidak menawarkan layanan ini.",
        "service.rehabilitation": "Rehabilitasi sosial",
        "event.referral_update": "rujukan {service}: {to}",
        "act.referral.read": "membaca rujukan",
        "act.referral.accept": "menerima rujukan",
        "act.referral.decline": "menolak rujukan",
        "act.referral.done": "menyelesaikan rujukan",
        "act.referral.revoke": "menarik rujukan",
        "act.referral.attachment": "mengunduh bukti rujukan",
        # --- the SIMFONI case record and export (issue 15) ---
        "case.title": "Data kasus",
        "case.hint": 'Kategori SIMFONI PPA, untuk input data bulanan. Isian bertanda "dari '
        'pelapor" berasal dari jawaban pelapor: periksa dan lengkapi.',
        "case.from_reporter": "dari pelapor",
        "case.none": "— belum diisi —",
        "case.victim_age_band": "Usia Korban",
        "case.victim_sex": "Jenis Kelamin Korban",
        "case.violence_forms": "Bentuk Kekerasan",
        "case.place": "Tempat Kejadian",
        "case.perpetrator_relation": "Hubungan Pelaku",
        "case.perpetrator_sex": "Jenis Kelamin Pelaku",
        "case.services_given": "Layanan",
        "case.service": "Jenis",
        "case.service_date": "Tanggal",
        "case.services_hint": "Isi jenis dan tanggal untuk menambah layanan; kosongkan tanggal "
        "untuk menghapusnya.",
        "case.saved": "Terakhir disimpan oleh {who}, {when}.",
        "case.unsaved": "Belum pernah disimpan.",
        "case.submit": "Simpan data kasus",
        "ok.case": "Data kasus disimpan.",
        "event.case": "memperbarui data kasus",
        "act.report.case": "memperbarui data kasus",
        "act.export.simfoni": "mengekspor data SIMFONI",
        "dim.case.victim_age_band": "SIMFONI: usia korban",
        "dim.case.victim_sex": "SIMFONI: jenis kelamin korban",
        "dim.case.violence_forms": "SIMFONI: bentuk kekerasan",
        "dim.case.place": "SIMFONI: tempat kejadian",
        "dim.case.perpetrator_relation": "SIMFONI: hubungan pelaku",
        "dim.case.perpetrator_sex": "SIMFONI: jenis kelamin pelaku",
        "stats.forms_note": "Satu laporan dihitung pada setiap bentuk kekerasannya, jadi jumlahnya "
        "bisa melebihi jumlah laporan.",
        "export.title": "Ekspor SIMFONI",
        "export.hint": "Satu baris per laporan lembaga Anda yang diterima pada rentang ini "
        "(tanggal WIB), dengan kolom SIMFONI PPA. Tanpa cerita, berkas, atau kontak. Setiap "
        "ekspor tercatat di log audit.",
        "export.from": "Dari tanggal",
        "export.to": "Sampai tanggal",
        "export.format": "Format",
        "export.submit": "Unduh ekspor",
        "err.export": "Rentang tanggal tidak sah: isi kedua tanggal, yang awal tidak sesudah "
        "yang akhir.",
    },
    "en": {
        "app": "Lapor Aman — Officers' console",
        "skip": "Skip to content",
        "switch": "Bahasa Indonesia",
        "login.title": "Log in",
        "login.username": "Username",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.failed": "Wrong username or password, or the account is locked for a while.",
        "login.expired": "Your session ended after a time without activity. Please log in again.",
        "login.out": "You have logged out.",
        "logout": "Log out",
        "nav.queue": "Queue",
        "nav.team": "Team",
        "nav.audit": "Audit log",
        "nav.stats": "Statistics",
        "nav.admin": "Agencies & officers",
        "signed_in_as": "Logged in as",
        "queue.title": "Report queue",
        "queue.live": "Updates by itself every 5 seconds.",
        "queue.empty": "No reports match.",
        "filter.status": "Status",
        "filter.priority": "Priority",
        "filter.mine": "Only the ones I hold",
        "filter.any": "All (except closed)",
        "filter.all": "All",
        "filter.apply": "Apply",
        "col.priority": "Priority",
        "col.reference": "Code",
        "col.age": "Received",
        "col.region": "Region",
        "col.category": "Kind",
        "col.status": "Status",
        "col.holder": "Held by",
        "col.sla": "Claim deadline",
        "sla.left": "{time} left",
        "sla.overdue": "{time} overdue",
        "sla.met": "being handled",
        "ago": "{time} ago",
        "unit.min": "{n} min",
        "unit.hour": "{n} h",
        "unit.day": "{n} d",
        "danger": "Danger now",
        "nobody": "—",
        "unknown": "not given",
        "skipped": "skipped",
        "just_now": "just now",
        "report.title": "Report {reference}",
        "report.answers": "The reporter's answers",
        "report.story": "Story (numbers, e-mails, NIKs and codes masked)",
        "report.no_story": "The reporter wrote no story.",
        "report.attachments": "Evidence",
        "report.no_attachments": "No evidence files.",
        "report.download": "Download",
        "report.bytes": "{size} KB",
        "report.timeline": "Timeline",
        "report.no_timeline": "Nothing has happened yet.",
        "report.actions": "Actions",
        "report.agency": "Agency",
        "report.received": "Received",
        "report.back": "Back to the queue",
        "action.claim": "Claim this report",
        "action.release": "Give back to the queue",
        "action.start": "Start working on it",
        "action.refer": "Mark referred",
        "action.resolve": "Mark resolved",
        "action.close": "Close the case",
        "action.reopen": "Reopen",
        "action.reason": "Reason (optional)",
        "note.title": "Internal note",
        "note.hint": "Never shown to the reporter.",
        "note.submit": "Save note",
        "referral.title": "Referral",
        "referral.consent": "The reporter asked for:",
        "referral.none": "The reporter asked for no help, so no referral can be made.",
        "referral.service": "Service",
        "referral.organisation": "Organisation",
        "referral.note": "Referral note (optional)",
        "referral.submit": "Make referral",
        "message.title": "Message to the reporter",
        "message.chat": "The reporter chose to be contacted in the chat: the message goes there.",
        "message.later": "The reporter did not choose the chat: they read it when they check "
        "their code.",
        "message.hint": "Avoid names or numbers unless needed. Someone else may read the phone.",
        "message.submit": "Send message",
        "assign.title": "Hand to an officer",
        "assign.officer": "Officer",
        "assign.submit": "Hand over",
        "ok.claim": "You now hold this report.",
        "ok.release": "The report is back in the queue.",
        "ok.move": "The report's status has changed.",
        "ok.note": "Note saved.",
        "ok.referral": "Referral recorded.",
        "ok.message_pushed": "Message sent to the reporter's chat.",
        "ok.message_waiting": "Message saved; the reporter reads it when checking the status.",
        "ok.assign": "Report handed over.",
        "err.held": "Another officer holds this report.",
        "err.consent": "The reporter did not ask for this service, so this referral is not "
        "possible.",
        "err.claim_first": "Claim this report first.",
        "err.closed": "The case is closed; reopen it first.",
        "err.not_now": "That action is not possible in the report's current status.",
        "err.invalid": "Something is missing or too long.",
        "err.officer": "No active officer of this report's agency has that username.",
        "error.title": "Something is in the way",
        "error.404": "Page or report not found, or not your agency's.",
        "error.403": "Request refused. Reload the page and try again.",
        "error.403.role": "This page is for supervisors and admins.",
        "error.503": "The database is busy. Please try again in a moment.",
        "error.500": "Something went wrong on our side. Try again; if it repeats, tell an admin.",
        "error.home": "To the queue",
        "team.title": "Team",
        "team.breaches": "Past the claim deadline",
        "team.no_breaches": "No report is past its claim deadline.",
        "team.officers": "Officers and the reports they hold",
        "team.holding": "Holding",
        "team.queue": "Team queue",
        "audit.title": "Audit log",
        "audit.when": "When",
        "audit.who": "Officer",
        "audit.what": "Action",
        "audit.report": "Report",
        "audit.detail": "Detail",
        "audit.older": "Older",
        "audit.empty": "Nothing recorded yet.",
        "stats.title": "Statistics",
        "stats.by": "Counted by",
        "stats.show": "Show",
        "stats.suppressed": "< 10 (hidden)",
        "stats.note": "Counts from 1 to 9 are never shown, and other counts are hidden too when a "
        "small one could be worked out from the totals.",
        "stats.total": "Total",
        "stats.empty": "No reports yet.",
        "dim.category": "Kind of violence",
        "dim.province": "Province",
        "dim.month": "Month",
        "dim.priority": "Priority",
        "dim.reporter": "Reporter",
        "dim.victim_age": "Victim's age",
        "admin.title": "Agencies & officers",
        "admin.agencies": "Agencies",
        "admin.officers": "Officers",
        "admin.code": "Code",
        "admin.name": "Name",
        "admin.regions": "Regions",
        "admin.national": "National",
        "admin.role": "Role",
        "admin.active": "Active",
        "admin.cli": "To add agencies and officers: the commands lapor agency add and lapor "
        "officer add.",
        "act.auth.login": "logged in",
        "act.auth.logout": "logged out",
        "act.auth.failed": "failed login",
        "act.auth.locked": "failed login (account locked)",
        "act.report.read": "read the report",
        "act.report.timeline": "read the timeline",
        "act.report.claim": "claimed the report",
        "act.report.release": "gave it back to the queue",
        "act.report.assign": "handed the report over",
        "act.report.transition": "changed the status",
        "act.report.note": "wrote a note",
        "act.report.referral": "made a referral",
        "act.report.message": "wrote to the reporter",
        "act.report.attachment": "downloaded evidence",
        "act.report.callback": "read the reporter's phone number",
        "act.report.escalated": "escalated (critical, unclaimed)",
        "callback.show": "Show the number to call (recorded in the audit log)",
        "callback.title": "The number the reporter gave",
        "callback.hint": "The reporter asked to be called on this number. Do not write it down "
        "elsewhere.",
        "callback.back": "Back to the report",
        "err.no_callback": "The reporter gave no phone number.",
        "queue.more": "Only the first {n} reports are shown; use the filters for the others.",
        "yes": "yes",
        "no": "no",
        "priority.critical": "Critical",
        "priority.high": "High",
        "priority.normal": "Normal",
        "status.new": "New",
        "status.claimed": "Claimed",
        "status.in_progress": "In progress",
        "status.referred": "Referred",
        "status.resolved": "Resolved",
        "status.closed": "Closed",
        "role.officer": "Officer",
        "role.supervisor": "Supervisor",
        "role.admin": "Admin",
        "service.psychosocial": "Psychosocial/counselling",
        "service.medical": "Medical",
        "service.legal": "Legal aid",
        "service.shelter": "Safe house",
        "service.police": "Police",
        "service.economic": "Economic help",
        "event.claim": "claimed the report",
        "event.release": "gave it back to the queue",
        "event.reassign": "handed it to {to}",
        "event.transition": "changed the status: {from} → {to}",
        "event.note": "internal note",
        "event.referral": "referred to {service}: {organisation}",
        "event.message.to_reporter": "message to the reporter",
        "event.message.from_reporter": "message from the reporter",
        "event.seen": "read",
        "event.unseen": "not read yet",
        "event.waiting": "waiting for the reporter to write",
        "event.notified": "the reporter was told on WhatsApp; waiting for the reporter to write",
        "event.reporter": "reporter",
        "nav.notifications": "Notifications",
        "duty.on": "On duty",
        "duty.off": "Off duty",
        "duty.go_on": "Go on duty",
        "duty.go_off": "Go off duty",
        "duty.hint": "Your duty status",
        "notify.title": "Notifications",
        "notify.intro": "While you are on duty, new critical or high-priority reports are sent to "
        "your e-mail and Telegram. A notification holds only the reference, the priority, the "
        "region, the time received and a link to the console.",
        "notify.duty": "Duty",
        "notify.duty_on": "You are on duty: notifications are sent to you.",
        "notify.duty_off": "You are off duty: no notifications (except supervisors when nobody is "
        "on duty).",
        "notify.email": "E-mail",
        "notify.email_none": "No e-mail address yet. An admin can set it with `lapor officer set`.",
        "notify.telegram": "Telegram",
        "notify.telegram_linked": "Linked to the officers' bot.",
        "notify.telegram_unlinked": "Not linked yet.",
        "notify.telegram_off": "The officers' Telegram bot is not set up on this server.",
        "notify.telegram_new": "Make a link code",
        "notify.telegram_steps": "Open this link on your phone (or scan the QR code), then tap "
        "Start. You can also send /start and this code to the bot. The code works once, for 10 "
        "minutes.",
        "notify.code": "Code",
        "notify.link": "Link",
        "notify.qr": "QR code of the link to the officers' bot",
        "notify.telegram_error": "Telegram does not answer. Try again shortly.",
        "notify.stop": "To stop, send /stop to the bot.",
        "incoming.title": "Incoming referrals",
        "incoming.hint": "Referrals from other agencies to yours; "
        "those waiting for an answer first.",
        "incoming.empty": "No incoming referrals yet.",
        "incoming.overdue": "past the answer deadline",
        "referral.page": "Referral of report {reference}",
        "referral.directory": "Agencies in the system",
        "referral.directory_none": "No agency in the system offers "
        "these services in the report's region.",
        "referral.to": "Receiving agency",
        "referral.outside": "An organisation outside the system (free text)",
        "referral.from": "From agency",
        "referral.note_from": "Note from the referring agency:",
        "referral.reason": "Reason for declining",
        "referral.outcome": "Outcome",
        "referral.no_actions": "There is nothing you can do on this referral now.",
        "referral.privacy": "Messages to the reporter stay with the agency holding "
        "the case; the reporter's number and address are not shared.",
        "referral.action.accept": "Accept referral",
        "referral.action.decline": "Decline referral",
        "referral.action.done": "Mark done",
        "referral.action.revoke": "Withdraw referral",
        "referral.status.pending": "pending",
        "referral.status.accepted": "accepted",
        "referral.status.declined": "declined",
        "referral.status.revoked": "withdrawn",
        "referral.status.done": "done",
        "optional": "optional",
        "ok.accept": "Referral accepted.",
        "ok.decline": "Referral declined.",
        "ok.done": "Referral marked done.",
        "ok.revoke": "Referral withdrawn.",
        "err.wrong_side": "The other agency of this referral does that.",
        "err.not_offered": "That agency does not offer this service.",
        "service.rehabilitation": "Social rehabilitation",
        "event.referral_update": "referral to {service}: {to}",
        "act.referral.read": "read the referral",
        "act.referral.accept": "accepted the referral",
        "act.referral.decline": "declined the referral",
        "act.referral.done": "finished the referral",
        "act.referral.revoke": "withdrew the referral",
        "act.referral.attachment": "downloaded the referral's evidence",
        # --- the SIMFONI case record and export (issue 15) ---
        "case.title": "Case data (SIMFONI)",
        "case.hint": "SIMFONI PPA's categories, for the monthly data entry. Values marked "
        '"from the reporter" come from the reporter\'s answers: check and complete them.',
        "case.from_reporter": "from the reporter",
        "case.none": "— not set —",
        "case.victim_age_band": "Victim's age (Usia Korban)",
        "case.victim_sex": "Victim's sex (Jenis Kelamin Korban)",
        "case.violence_forms": "Forms of violence (Bentuk Kekerasan)",
        "case.place": "Place (Tempat Kejadian)",
        "case.perpetrator_relation": "Perpetrator's relation (Hubungan Pelaku)",
        "case.perpetrator_sex": "Perpetrator's sex (Jenis Kelamin Pelaku)",
        "case.services_given": "Services given (Layanan)",
        "case.service": "Kind",
        "case.service_date": "Date",
        "case.services_hint": "Fill in a service and its date to add it; empty the date to remove "
        "one.",
        "case.saved": "Last saved by {who}, {when}.",
        "case.unsaved": "Not saved yet.",
        "case.submit": "Save the case data",
        "ok.case": "Case data saved.",
        "event.case": "updated the case data",
        "act.report.case": "updated the case data",
        "act.export.simfoni": "exported SIMFONI data",
        "dim.case.victim_age_band": "SIMFONI: victim's age",
        "dim.case.victim_sex": "SIMFONI: victim's sex",
        "dim.case.violence_forms": "SIMFONI: form of violence",
        "dim.case.place": "SIMFONI: place",
        "dim.case.perpetrator_relation": "SIMFONI: perpetrator's relation",
        "dim.case.perpetrator_sex": "SIMFONI: perpetrator's sex",
        "stats.forms_note": "A report counts under each of its forms of violence, so the total "
        "can exceed the number of reports.",
        "export.title": "SIMFONI export",
        "export.hint": "One row per report of your agency received in this range (dates in WIB), "
        "in SIMFONI PPA's columns. No story, file or contact. Every export is recorded in the "
        "audit log.",
        "export.from": "From",
        "export.to": "To",
        "export.format": "Format",
        "export.submit": "Download the export",
        "err.export": "Not a valid range: fill in both dates, the first not after the last.",
    },
}


@dataclass(frozen=True, slots=True)
class Row:
    """A row of a report table in words: a queue page has a hundred, and each call from a
    template costs several times what the same call costs here."""

    id: str
    reference: str
    priority: str
    priority_label: str
    danger: bool
    created_at: str
    clock: str
    age: str
    region: str
    category: str
    status: str
    holder: str
    overdue: bool
    sla: str


@dataclass(frozen=True)
class Words:
    """The console's words in one language, and the flow's labels in the same language."""

    lang: str
    flows: Flows

    def __call__(self, key: str, **params: object) -> str:
        text = STRINGS[self.lang].get(key) or STRINGS["id"][key]
        return text.format(**params) if params else text

    def answer(self, field: str, code: str | None) -> str:
        """A reporter's answer as the flow showed it (a region by its name)."""
        if code is None:
            return self("nobody")  # not asked (a step the flow skipped for this report)
        if code == "skip":
            return self("skipped")
        if field in ("province", "regency"):
            region = self.flows.regions.get(code)
            return region.name if region is not None else code
        key = f"{field}.{code}"
        catalogue = self.flows.catalogue
        # A code the flow no longer offers is shown as stored rather than hidden.
        return catalogue.text(key, self.lang) if catalogue.has(key, self.lang) else code

    def action(self, code: str) -> str:
        """An audited action in words (an action without words is shown by its code)."""
        key = f"act.{code}"
        return self(key) if key in STRINGS[self.lang] else code

    def title(self, field: str) -> str:
        return self.flows.catalogue.text(f"title.{field}", self.lang)

    def duration(self, span: timedelta) -> str:
        minutes = max(0, int(span.total_seconds() // 60))
        if minutes < 60:
            return self("unit.min", n=minutes)
        if minutes < 48 * 60:
            return self("unit.hour", n=minutes // 60)
        return self("unit.day", n=minutes // (24 * 60))

    def age(self, span: timedelta) -> str:
        if span < timedelta(minutes=1):
            return self("just_now")
        return self("ago", time=self.duration(span))

    def sla(self, due: datetime | None, now: datetime, overdue: bool, status: str) -> str:
        if due is None or status not in ("new", "claimed"):
            return self("sla.met")
        if overdue:
            return self("sla.overdue", time=self.duration(now - due))
        return self("sla.left", time=self.duration(due - now))

    def region(self, item: ReportSummary) -> str:
        if item.regency:
            return self.answer("regency", item.regency)
        if item.province:
            return self.answer("province", item.province)
        return self("unknown")

    def rows(self, items: Iterable[ReportSummary], now: datetime) -> list[Row]:
        nobody = self("nobody")
        return [
            Row(
                id=item.id,
                reference=item.reference,
                priority=item.priority,
                priority_label=self(f"priority.{item.priority}"),
                danger=item.danger,
                created_at=item.created_at.isoformat(),
                clock=self.clock(item.created_at),
                age=self.age(now - item.created_at),
                region=self.region(item),
                category=self.answer("category", item.category),
                status=self(f"status.{item.status}"),
                holder=item.claimed_by or nobody,
                overdue=item.overdue,
                sla=self.sla(item.sla_due_at, now, item.overdue, item.status),
            )
            for item in items
        ]

    @staticmethod
    def clock(moment: datetime, *, seconds: bool = False) -> str:
        shape = "%d-%m-%Y %H:%M:%S WIB" if seconds else "%d-%m-%Y %H:%M WIB"
        return moment.astimezone(WIB).strftime(shape)
