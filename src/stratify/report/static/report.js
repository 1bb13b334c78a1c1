// stratify report, per-patient view: draws a patient's SHAP values (the JSON in #pv-data) as a
// waterfall-style SVG. Inlined into the page at build time (stratify.report.render.static); no library, no network.
(function(){
var D=JSON.parse(document.getElementById('pv-data').textContent);
var ids=Object.keys(D.patients), box=document.getElementById('pv-out'), inp=document.getElementById('pv-id');
var dl=document.getElementById('pv-ids');
ids.slice(0,5000).forEach(function(k){var o=document.createElement('option');o.value=k;dl.appendChild(o);});
function esc(t){return String(t).replace(/[&<>"']/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c];});}
function fmt(v){return v===null?'missing':(Math.abs(v)>=1000?v.toFixed(0):Number(v.toPrecision(3)).toString());}
function show(id){
  id=String(id).trim(); var p=D.patients[id];
  if(!p){box.innerHTML='<p class="statement">No patient '+esc(id)+' in this report ('+ids.length+' patients; identifiers are case-sensitive).</p>';return;}
  var c=D.features.map(function(f,i){return {f:f,s:p[1][i],v:p[2][i]};});
  c.sort(function(a,b){return Math.abs(b.s)-Math.abs(a.s);});
  var top=c.slice(0,D.max_display), rest=c.slice(D.max_display), other=rest.reduce(function(t,x){return t+x.s;},0);
  if(rest.length){top.push({f:rest.length+' other features',s:other,v:undefined});}
  var W=720,L=230,R=90,rowH=22,H=rowH*(top.length+2)+30, x0=D.base, x=x0, lo=x0, hi=x0;
  top.forEach(function(t){x+=t.s;lo=Math.min(lo,x);hi=Math.max(hi,x);});
  var pad=(hi-lo)*0.05+1e-9; lo-=pad; hi+=pad;
  function X(v){return L+(v-lo)/(hi-lo)*(W-L-R);}
  var g='<svg width="'+W+'" height="'+H+'" role="img" aria-label="SHAP contributions of '+esc(id)+'">';
  g+='<line x1="'+X(x0)+'" y1="4" x2="'+X(x0)+'" y2="'+(H-24)+'" stroke="#888" stroke-dasharray="3,3"/>';
  x=x0;
  top.forEach(function(t,i){var y=6+i*rowH, a=X(x), b=X(x+t.s), col=t.s>=0?'#c0392b':'#2471a3';
    g+='<text x="'+(L-6)+'" y="'+(y+14)+'" text-anchor="end" font-size="12">'+esc(t.f)+(t.v===undefined?'':' = '+esc(fmt(t.v)))+'</text>';
    g+='<rect x="'+Math.min(a,b)+'" y="'+(y+3)+'" width="'+Math.max(Math.abs(b-a),1)+'" height="'+(rowH-6)+'" fill="'+col+'"/>';
    g+='<text x="'+(Math.max(a,b)+4)+'" y="'+(y+14)+'" font-size="11" fill="#444">'+(t.s>=0?'+':'')+t.s.toFixed(3)+'</text>';
    x+=t.s;});
  var yb=6+top.length*rowH+14;
  g+='<line x1="'+X(x)+'" y1="4" x2="'+X(x)+'" y2="'+(H-24)+'" stroke="#1b4f72"/>';
  g+='<text x="'+X(x0)+'" y="'+(yb+14)+'" font-size="11" text-anchor="middle" fill="#666">base '+x0.toFixed(3)+'</text>';
  g+='<text x="'+X(x)+'" y="'+(yb+28)+'" font-size="11" text-anchor="middle" fill="#1b4f72">f(x) '+x.toFixed(3)+'</text></svg>';
  var pr=D.task==='classification'?', probability '+(1/(1+Math.exp(-p[0]))).toFixed(2):'';
  box.innerHTML='<p><b>'+esc(id)+'</b>: prediction '+p[0].toFixed(3)+' '+esc(D.scale)+pr+
    '. Bars are SHAP values ('+esc(D.scale)+'): red raises the prediction, blue lowers it; they add up from the base value to the prediction.</p>'+g;
}
document.getElementById('pv-form').addEventListener('submit',function(e){e.preventDefault();show(inp.value);});
Array.prototype.forEach.call(document.querySelectorAll('[data-pv]'),function(b){b.addEventListener('click',function(){inp.value=b.getAttribute('data-pv');show(inp.value);});});
if(D.initial){inp.value=D.initial;show(D.initial);}
})();
