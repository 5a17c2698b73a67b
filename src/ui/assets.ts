// The dashboard's only stylesheet and script, served from /ui/assets/ so the Content Security
// Policy can forbid every inline style and script. The script is progressive enhancement only.

export const APP_CSS = `
:root{--fg:#1b1f24;--muted:#4d5661;--bg:#fff;--line:#d0d7de;--accent:#0b5cad;--ok:#1a7f37;--bad:#b3261e;--warn:#8a5a00;--chip:#eef2f6;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
*{box-sizing:border-box}
body{margin:0;line-height:1.45}
a{color:var(--accent)}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px 8px;z-index:2}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.6rem 1rem;border-bottom:1px solid var(--line);background:#f6f8fa}
header.top .brand{font-weight:700;text-decoration:none;color:var(--fg);margin-right:.5rem}
nav.main ul{display:flex;flex-wrap:wrap;gap:.25rem .9rem;list-style:none;margin:0;padding:0}
nav.main a{text-decoration:none;padding:.35rem .1rem;display:inline-block}
nav.main a[aria-current=page]{font-weight:700;border-bottom:2px solid var(--accent)}
header.top form{margin-left:auto}
main{padding:1rem;max-width:72rem;margin:0 auto}
h1{font-size:1.45rem;margin:.3rem 0 1rem}
h2{font-size:1.1rem;margin:1.5rem 0 .6rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(8.5rem,1fr));gap:.6rem;margin:0;padding:0;list-style:none}
.cards li{border:1px solid var(--line);border-radius:8px;padding:.6rem .8rem}
.cards .n{display:block;font-size:1.6rem;font-weight:700}
.table-wrap{position:relative;overflow-x:auto;border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%;font-size:.92rem}
caption{text-align:left;padding:.5rem .6rem;color:var(--muted)}
th,td{text-align:left;padding:.45rem .6rem;border-top:1px solid var(--line);vertical-align:baseline}
thead th{background:#f6f8fa;border-top:0;white-space:nowrap}
td.mono,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em;overflow-wrap:anywhere}
td.mono,th.mono{overflow-wrap:normal;white-space:nowrap}
.state{display:inline-block;padding:.05rem .5rem;border-radius:999px;background:var(--chip);font-size:.85em;white-space:nowrap}
.state-enrolled,.state-joined,.outcome-success{color:var(--ok)}
.state-revoked,.state-join_expired,.outcome-failure{color:var(--bad)}
.chip{display:inline-block;background:var(--chip);border-radius:4px;padding:0 .35rem;margin:0 .2rem .2rem 0;font-size:.85em}
form.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-end;margin-bottom:1rem}
label{display:block;font-weight:600;font-size:.9rem;margin-bottom:.2rem}
.field{margin-bottom:.8rem}
.field.inline{display:flex;gap:.5rem;align-items:center}.field.inline label{margin:0;font-weight:400}
input[type=text],input[type=password],input[type=search],select,textarea{font:inherit;padding:.45rem .55rem;border:1px solid #8c959f;border-radius:6px;min-width:0;width:100%;max-width:28rem;background:#fff;color:var(--fg)}
form.filters input,form.filters select{width:auto}
textarea{min-height:4.5rem}
.hint{color:var(--muted);font-size:.85rem;margin:.15rem 0 0}
button,.button{font:inherit;padding:.45rem .9rem;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary,.button.secondary{background:#fff;color:var(--accent)}
button.danger{background:var(--bad);border-color:var(--bad)}
.notice{border-left:4px solid var(--accent);background:#eef5fc;padding:.6rem .8rem;margin:0 0 1rem}
.notice.error{border-color:var(--bad);background:#fdf0ef}
.notice.ok{border-color:var(--ok);background:#eef8f0}
dl.props{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0}
dl.props dt{font-weight:600;color:var(--muted)}dl.props dd{margin:0;overflow-wrap:anywhere}
.chart{width:100%;max-width:46rem;height:auto;display:block}
.chart .ok{fill:var(--ok)}.chart .bad{fill:var(--bad)}.chart .axis{stroke:#8c959f}.chart text{fill:var(--muted);font-size:10px}
.legend{display:flex;gap:1rem;font-size:.9rem;margin:.3rem 0}.legend span::before{content:"";display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-.1rem}
.legend .ok::before{background:var(--ok)}.legend .bad::before{background:var(--bad)}
.secret{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:1.15rem;background:#fff8e1;border:1px dashed var(--warn);padding:.4rem .6rem;display:inline-block;overflow-wrap:anywhere;user-select:all}
.card{border:2px solid var(--fg);border-radius:10px;padding:1rem;max-width:34rem;display:grid;grid-template-columns:1fr auto;gap:1rem;align-items:start}
.card h2{margin-top:0}.card svg{width:9.5rem;height:9.5rem}
.card dl{grid-template-columns:1fr}
.pager{display:flex;gap:1rem;margin-top:.8rem}
.actions{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center;margin:1rem 0}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.login{max-width:26rem;margin:3rem auto}
@media (max-width:40rem){main{padding:.75rem}.card{grid-template-columns:1fr}dl.props{grid-template-columns:1fr}dl.props dd{margin-bottom:.4rem}}
@media print{header.top,.no-print,.skip{display:none!important}main{padding:0}.card{border-color:#000;break-inside:avoid}.secret{background:none}}
`;

/** Progressive enhancement: a print button for the technician's card. Nothing depends on it. */
export const APP_JS = `document.addEventListener('click',function(e){var t=e.target;if(t&&t.closest&&t.closest('[data-print]')){e.preventDefault();window.print();}});
document.querySelectorAll('[data-print]').forEach(function(b){b.hidden=false;});`;
