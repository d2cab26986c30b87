#!/usr/bin/env python3
"""PyTorch side of bench/accuracy.sh: the same models, hyperparameters, data
pipeline and number of epochs as examples/mnist_mlp.c and examples/mnist_cnn.c.
Reads the IDX .gz files directly (no torchvision download).
Usage: python3 bench/torch_mnist.py {mlp|cnn} EPOCHS [DATA_DIR] [THREADS]"""
import gzip
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

kind, epochs = sys.argv[1], int(sys.argv[2])
data = sys.argv[3] if len(sys.argv) > 3 else "/usr/share/datasets/fashion-mnist"
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
torch.manual_seed(0)


def idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load(split):
    x = torch.tensor(idx("%s/%s-images-idx3-ubyte.gz" % (data, split)), dtype=torch.float32) / 255.0
    y = torch.tensor(idx("%s/%s-labels-idx1-ubyte.gz" % (data, split)), dtype=torch.int64)
    return ((x - 0.2860) / 0.3530).unsqueeze(1), y       # ToTensor, Normalize((0.2860,), (0.3530,))


class MY_NET(nn.Module):                                      # seed 002, at 28x28x1
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(128 * 7 * 7, 512)
        self.fc2 = nn.Linear(512, num_classes)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv2(F.relu(self.conv1(x)))))
        x = self.pool2(F.relu(self.conv3(x)))
        x = self.dropout(torch.flatten(x, 1))
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


xtr, ytr = load("train")
xte, yte = load("t10k")
if kind == "cnn":
    model = MY_NET()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
else:
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
t0 = time.time()
for epoch in range(1, epochs + 1):
    model.train()
    perm = torch.randperm(len(xtr))
    total, correct, loss_sum = 0, 0, 0.0
    for i in range(0, len(xtr), 64):
        b = perm[i:i + 64]
        logits = model(xtr[b])
        loss = F.cross_entropy(logits, ytr[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(b)
        correct += (logits.argmax(1) == ytr[b]).sum().item()
        total += len(b)
    print("[Epoch %d] loss = %.4f | accuracy = %.2f%%" % (epoch, loss_sum / total, 100.0 * correct / total), flush=True)
train_s = time.time() - t0
model.eval()
with torch.no_grad():
    pred = torch.cat([model(xte[i:i + 256]).argmax(1) for i in range(0, len(xte), 256)])
print("Test accuracy: %.2f%%" % (100.0 * (pred == yte).float().mean().item()))
print("Training time: %.1f s" % train_s)
