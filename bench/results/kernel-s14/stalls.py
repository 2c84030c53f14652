import csv, collections, re, sys
reasons=['stall_barrier','stall_branch_resolving','stall_dispatch','stall_drain','stall_imc','stall_lg','stall_long_sb','stall_math','stall_membar','stall_mio','stall_misc','stall_no_inst','stall_not_selected','stall_selected','stall_short_sb','stall_sleep','stall_tex','stall_wait']
for name in sys.argv[1:]:
    rows=list(csv.reader(open(f'{name}-sass.csv')))
    hdr=rows[1]; data=rows[2:]
    idx={h:i for i,h in enumerate(hdr)}
    def v(r,c):
        try: return int(float(r[idx[c]] or 0))
        except: return 0
    tot=collections.Counter()
    byop=collections.defaultdict(collections.Counter)
    execs=collections.Counter()
    for r in data:
        src=r[idx['Source']].strip()
        op=re.sub(r'^@!?U?P[0-9T]\s+','',src).split(' ')[0].split('.')[0]
        for c in reasons:
            n=v(r,c); tot[c]+=n; byop[op][c]+=n
        execs[op]+=v(r,'Instructions Executed')
    S=sum(tot.values())
    print(f'== {name}: {S} samples; executed warp instrs {sum(execs.values())}')
    print('  by reason:', ', '.join(f'{c[6:]} {100*n/S:.1f}%' for c,n in tot.most_common(9)))
    opsum={op:sum(c.values()) for op,c in byop.items()}
    for op,n in sorted(opsum.items(), key=lambda x:-x[1])[:10]:
        top=', '.join(f'{c[6:]} {100*m/S:.1f}' for c,m in byop[op].most_common(3))
        print(f'  {op:8s} {100*n/S:5.1f}% of samples, {execs[op]:>9d} executed ({100*execs[op]/sum(execs.values()):.1f}%): {top}')
