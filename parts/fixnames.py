import re,sys
# module-layer names that collide with the ops' kernel families and front-end helpers
for p in sys.argv[1:]:
    s=open(p).read()
    if '11_impl_modules' in p:
        names=set(re.findall(r'static nn_tensor \*nn__(\w+?)_forward\(nn_module', s))
        for name in names:
            s=re.sub(r'\bnn__%s_forward\b'%name, 'nn__%s_layer_forward'%name, s)
        for st in ['conv','pool','softmax','dropout','flatten','batch_norm','layer_norm','embedding','adaptive_pool','activation','leaky_relu']:
            s=re.sub(r'\bnn__%s\b(?!\()'%st, 'nn__%s_layer'%st, s)
    s=re.sub(r'^static int nn__finite\([^)]*\) \{[^\n]*\n', '', s, flags=re.M)
    open(p,'w').write(s)
