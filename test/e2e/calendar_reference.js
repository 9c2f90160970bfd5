// An independent business-hours reference for test/e2e/calendar_exact.sh:
// it knows nothing of pg_helpdesk's C walk. Local time comes from ICU's time
// zones (Intl.DateTimeFormat), and open time is counted by stepping over UTC
// minutes: every calendar here has its boundaries on whole local minutes and
// its zones whole-minute offsets, so openness is constant within each UTC
// minute, and a start or amount with seconds and milliseconds is handled by
// taking the part of the first minute that is left.
//
// usage: node calendar_reference.js calendars      (JSON lines: the calendars)
//        node calendar_reference.js cases SEED N   (TSV: kind, calendar, from,
//          amount in ms (add) or b (between), expected: an ISO instant (add)
//          or milliseconds (between))
'use strict';

const CALENDARS = {
	ny_lunch: { tz: 'America/New_York',
		hours: { mon: [['09:00', '12:00'], ['13:30', '18:00']], tue: [['09:00', '12:00'], ['13:30', '18:00']],
			wed: [['09:00', '12:00'], ['13:30', '18:00']], thu: [['09:00', '12:00'], ['13:30', '18:00']],
			fri: [['09:00', '12:00'], ['13:30', '18:00']] },
		holidays: [{ date: '2026-07-03', name: 'Independence Day (observed)' }, { date: '2026-11-26', name: 'Thanksgiving' },
			{ date: '2025-12-25', name: 'Christmas' }] },
	ny_dst: { tz: 'America/New_York',
		hours: { sun: [['00:00', '24:00']], wed: [['12:00', '24:00']], thu: [['00:00', '06:00']],
			sat: [['01:30', '02:30']] },
		holidays: [] },
	berlin_night: { tz: 'Europe/Berlin',
		hours: { sun: [['00:00', '04:00'], ['22:00', '24:00']], mon: [['08:00', '17:00']], tue: [['08:00', '17:00']],
			wed: [['08:00', '17:00']], thu: [['08:00', '17:00']], fri: [['08:00', '17:00']], sat: [['01:00', '03:30']] },
		holidays: [{ date: '2026-12-25', name: 'Weihnachten' }, { date: '2026-10-03', name: 'Tag der Deutschen Einheit' }] },
	berlin_full: { tz: 'Europe/Berlin',
		hours: { mon: [['00:00', '24:00']], tue: [['00:00', '24:00']], wed: [['00:00', '24:00']], thu: [['00:00', '24:00']],
			fri: [['00:00', '24:00']], sat: [['00:00', '24:00']], sun: [['00:00', '24:00']] },
		holidays: [] },
	berlin_247: { tz: 'Europe/Berlin', hours: '24/7', holidays: [] },
	shanghai: { tz: 'Asia/Shanghai',
		hours: { mon: [['09:00', '12:00'], ['14:00', '18:00']], tue: [['09:00', '12:00'], ['14:00', '18:00']],
			wed: [['09:00', '12:00'], ['14:00', '18:00']], thu: [['09:00', '12:00'], ['14:00', '18:00']],
			fri: [['09:00', '12:00'], ['14:00', '18:00']] },
		holidays: ['2026-10-01', '2026-10-02', '2026-10-03', '2026-10-04', '2026-10-05', '2026-10-06', '2026-10-07']
			.map((d) => ({ date: d, name: '国庆节' })) },
	tight: { tz: 'Asia/Shanghai', hours: { wed: [['10:00', '10:05']], sat: [['23:58', '24:00']] }, holidays: [] },
};

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MIN = 60000;
const formatters = {}, partsCache = {};

// the local date, weekday and minute of day of the UTC minute ms, by ICU
function localParts(tz, ms) {
	const cache = partsCache[tz] || (partsCache[tz] = new Map());
	const hit = cache.get(ms);
	if (hit) return hit;
	let f = formatters[tz];
	if (!f) {
		f = formatters[tz] = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', weekday: 'short',
			year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
	}
	const p = {};
	for (const x of f.formatToParts(new Date(ms))) p[x.type] = x.value;
	const v = { date: `${p.year}-${p.month}-${p.day}`, wd: p.weekday.toLowerCase().slice(0, 3),
		tod: Number(p.hour) * 60 + Number(p.minute) };
	cache.set(ms, v);
	return v;
}

function hm(s) { const [h, m] = s.split(':').map(Number); return h * 60 + m; }

function compile(cal) {
	const c = { tz: cal.tz, always: cal.hours === '24/7', days: {}, holidays: new Set(cal.holidays.map((h) => h.date)) };
	if (!c.always) for (const d of DAYS) c.days[d] = (cal.hours[d] || []).map(([a, b]) => [hm(a), hm(b)]);
	return c;
}

// is the UTC minute starting at ms open?
function openMinute(c, ms) {
	if (c.always) return true;
	const l = localParts(c.tz, ms);
	return !c.holidays.has(l.date) && c.days[l.wd].some(([a, b]) => l.tod >= a && l.tod < b);
}

function add(c, from, amount) {
	let t = from, rem = amount;
	for (let steps = 0; steps < 5e6; steps++) {
		const m0 = Math.floor(t / MIN) * MIN, m1 = m0 + MIN;
		if (openMinute(c, m0)) {
			if (rem <= m1 - t) return t + rem;
			rem -= m1 - t;
		}
		t = m1;
	}
	throw new Error('reference walk too long');
}

function between(c, a, b) {
	let sum = 0;
	for (let t = a; t < b;) {
		const m0 = Math.floor(t / MIN) * MIN, m1 = Math.min(m0 + MIN, b);
		if (openMinute(c, m0)) sum += m1 - t;
		t = m1;
	}
	return sum;
}

// a small seeded generator (mulberry32), so a failing run can be repeated
function rng(seed) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6D2B79F5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

// instants near the DST changes of New York and Berlin, and elsewhere
const HOT = ['2025-03-09T07:00:00Z', '2025-11-02T06:00:00Z', '2026-03-08T07:00:00Z', '2026-11-01T06:00:00Z',
	'2025-03-30T01:00:00Z', '2025-10-26T01:00:00Z', '2026-03-29T01:00:00Z', '2026-10-25T01:00:00Z',
	'2026-10-01T00:00:00Z', '2026-07-03T12:00:00Z', '2026-12-24T12:00:00Z'].map((s) => Date.parse(s));

// hand-picked starts (local wall-clock strings are resolved by the SQL side; here as UTC instants)
const HAND = [
	// starts inside closed periods, on boundaries, at DST changes, at midnight
	['ny_lunch', '2026-03-06T22:00:00Z', 4 * 60], ['ny_lunch', '2026-03-09T16:00:00Z', 60],
	['ny_lunch', '2026-03-09T17:00:00Z', 0], ['ny_lunch', '2026-07-02T21:59:59.500Z', 1],
	['ny_dst', '2026-03-08T05:00:00Z', 23 * 60], ['ny_dst', '2026-11-01T04:00:00Z', 25 * 60],
	['ny_dst', '2026-03-08T06:59:00Z', 2], ['ny_dst', '2026-11-01T05:30:00Z', 90],
	['ny_dst', '2026-03-07T06:00:00Z', 60], ['ny_dst', '2026-10-31T05:30:00Z', 60],
	['berlin_night', '2026-03-29T00:30:00Z', 120], ['berlin_night', '2026-10-25T00:30:00Z', 240],
	['berlin_night', '2026-03-28T00:00:00Z', 150], ['berlin_night', '2026-10-24T23:00:00Z', 300],
	['berlin_full', '2026-03-28T23:00:00Z', 24 * 60], ['berlin_full', '2026-10-24T22:00:00Z', 24 * 60],
	['berlin_full', '2026-03-28T23:00:00Z', 3 * 24 * 60], ['berlin_247', '2026-03-28T23:00:00Z', 24 * 60],
	['shanghai', '2026-09-30T09:59:00Z', 10], ['shanghai', '2026-09-30T04:00:00Z', 8 * 60],
	['shanghai', '2026-10-09T04:30:00Z', 60], ['tight', '2026-03-04T02:04:00Z', 3], ['tight', '2026-03-07T15:59:00Z', 2],
];

function main() {
	const mode = process.argv[2];
	if (mode === 'calendars') {
		for (const [k, v] of Object.entries(CALENDARS)) process.stdout.write(JSON.stringify({ external_id: k, ...v }) + '\n');
		return;
	}
	const seed = Number(process.argv[3] || 1), n = Number(process.argv[4] || 300);
	const r = rng(seed), cals = {};
	for (const [k, v] of Object.entries(CALENDARS)) cals[k] = compile(v);
	const names = Object.keys(CALENDARS), out = [];
	const emit = (kind, cal, a, x) => {
		const c = cals[cal];
		if (kind === 'add') out.push(['add', cal, new Date(a).toISOString(), String(x), new Date(add(c, a, x)).toISOString()]);
		else out.push(['between', cal, new Date(a).toISOString(), new Date(x).toISOString(), String(between(c, a, x))]);
	};
	for (const [cal, from, minutes] of HAND) {
		const a = Date.parse(from);
		emit('add', cal, a, minutes * MIN);
		emit('between', cal, a, a + minutes * MIN * 3 + 17000);
	}
	for (let i = 0; i < n; i++) {
		const cal = names[Math.floor(r() * names.length)];
		const base = r() < 0.6 ? HOT[Math.floor(r() * HOT.length)] + Math.floor((r() - 0.5) * 6 * 86400e3)
			: Date.parse('2025-01-01T00:00:00Z') + Math.floor(r() * 3 * 365 * 86400e3);
		// whole minutes, or with seconds and milliseconds
		const a = r() < 0.5 ? Math.floor(base / MIN) * MIN : base;
		const maxMin = cal === 'tight' ? 20 : 3000;
		let amount = Math.floor(r() * maxMin) * MIN + (r() < 0.5 ? Math.floor(r() * 60000) : 0);
		if (r() < 0.05) amount = 0;
		emit('add', cal, a, amount);
		const span = Math.floor(r() * (cal === 'tight' ? 15 : 4) * 86400e3);
		emit('between', cal, a, a + span);
	}
	process.stdout.write(out.map((row) => row.join('\t')).join('\n') + '\n');
}

main();
