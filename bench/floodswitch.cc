// The flood switch of bench/floodswitch.py in C++ (gRPC's callback API, Debian's
// libgrpc++): the same protocol, at the speed a switch agent written in C++ sends (a
// Python gRPC server sends ~20,000 messages a second, which capped the benchmark).
//
//   floodswitch FLOOD_FILE PIPELINE_FILE
//
// FLOOD_FILE: serialized StreamMessageResponses, each behind its length (4 bytes, big
// endian). PIPELINE_FILE: the serialized GetForwardingPipelineConfigResponse to answer.
// It prints its port; on each line "go" on its standard input it sends the flood on the
// device-1 stream opened last (or the next one), as fast as gRPC takes the messages,
// and prints "sent"; it ends when its standard input closes. Arbitration is answered
// as primary (the request's MasterArbitrationUpdate sent back with status OK); Read
// answers nothing, Write an empty WriteResponse; every other message on a stream is
// read and ignored. Built by bench/flood.py where pkg-config knows grpc++.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {

std::string ReadFile(const char* path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string Flatten(const grpc::ByteBuffer& buf) {
    std::vector<grpc::Slice> slices;
    std::string out;
    if (!buf.Dump(&slices).ok()) return out;
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return out;
}

grpc::ByteBuffer Buffer(const std::string& bytes) {
    grpc::Slice slice(bytes.data(), bytes.size());
    return grpc::ByteBuffer(&slice, 1);
}

bool Varint(const std::string& b, size_t* pos, uint64_t* v) {
    *v = 0;
    for (int shift = 0; *pos < b.size() && shift < 64; shift += 7) {
        uint8_t c = static_cast<uint8_t>(b[(*pos)++]);
        *v |= static_cast<uint64_t>(c & 0x7f) << shift;
        if (!(c & 0x80)) return true;
    }
    return false;
}

// The arbitration field (1) of a StreamMessageRequest, and its device_id; false if none.
bool Arbitration(const std::string& req, std::string* arb, uint64_t* device) {
    size_t pos = 0;
    uint64_t key, len;
    while (pos < req.size()) {
        if (!Varint(req, &pos, &key)) return false;
        if ((key & 7) != 2) return false;   // StreamMessageRequest has only messages/bytes
        if (!Varint(req, &pos, &len) || len > req.size() - pos) return false;
        if (key >> 3 == 1) {
            *arb = req.substr(pos, len);
            size_t q = 0;
            uint64_t k, v;
            *device = 0;
            while (q < arb->size() && Varint(*arb, &q, &k)) {
                if ((k & 7) == 0) {
                    if (!Varint(*arb, &q, &v)) break;
                    if (k >> 3 == 1) *device = v;
                } else if ((k & 7) == 2) {
                    if (!Varint(*arb, &q, &v) || v > arb->size() - q) break;
                    q += v;
                } else {
                    break;
                }
            }
            return true;
        }
        pos += len;
    }
    return false;
}

class Switch;

class Stream : public grpc::ServerGenericBidiReactor {
  public:
    explicit Stream(Switch* sw) : sw_(sw) { StartRead(&in_); }
    void OnReadDone(bool ok) override;
    void OnWriteDone(bool ok) override;
    void OnDone() override;
    void Flood();

  private:
    Switch* sw_;
    grpc::ByteBuffer in_;
    std::string answer_;
    grpc::ByteBuffer out_;
    size_t next_ = 0;
    bool flooding_ = false;
    bool registered_ = false;
};

class Unary : public grpc::ServerGenericBidiReactor {
  public:
    Unary(std::string answer, bool stream) : answer_(std::move(answer)), stream_(stream) {
        StartRead(&in_);
    }
    void OnReadDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::OK);
        if (stream_) return Finish(grpc::Status::OK);   // Read: nothing held
        out_ = Buffer(answer_);
        StartWriteAndFinish(&out_, grpc::WriteOptions(), grpc::Status::OK);
    }
    void OnDone() override { delete this; }

  private:
    std::string answer_;
    bool stream_;
    grpc::ByteBuffer in_, out_;
};

class Switch : public grpc::CallbackGenericService {
  public:
    Switch(std::vector<grpc::ByteBuffer> flood, std::string pipeline)
        : flood_(std::move(flood)), pipeline_(std::move(pipeline)) {}

    grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx)
        override {
        const std::string& m = ctx->method();
        if (m == "/p4.v1.P4Runtime/StreamChannel") return new Stream(this);
        if (m == "/p4.v1.P4Runtime/GetForwardingPipelineConfig") return new Unary(pipeline_, false);
        if (m == "/p4.v1.P4Runtime/Write") return new Unary("", false);
        if (m == "/p4.v1.P4Runtime/Read") return new Unary("", true);
        return grpc::CallbackGenericService::CreateReactor(ctx);
    }

    // A device-1 stream has answered arbitration: it is the one flooded from now on.
    void Latest(Stream* s) {
        std::lock_guard<std::mutex> lock(mu_);
        latest_ = s;
        live_.insert(s);
        if (go_) Start();
    }
    void Gone(Stream* s) {
        std::lock_guard<std::mutex> lock(mu_);
        live_.erase(s);
        if (latest_ == s) latest_ = nullptr;
    }
    void Go() {
        std::lock_guard<std::mutex> lock(mu_);
        go_ = true;
        if (latest_ != nullptr) Start();
    }
    void Sent() {
        std::lock_guard<std::mutex> lock(mu_);
        sent_ = true;
        cv_.notify_all();
    }
    void WaitSent() {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return sent_; });
        sent_ = false;
    }
    const std::vector<grpc::ByteBuffer>& flood() const { return flood_; }

  private:
    void Start() {   // under mu_
        go_ = false;
        latest_->Flood();
    }
    std::vector<grpc::ByteBuffer> flood_;
    std::string pipeline_;
    std::mutex mu_;
    std::condition_variable cv_;
    Stream* latest_ = nullptr;
    std::set<Stream*> live_;
    bool go_ = false;
    bool sent_ = false;
};

void Stream::OnReadDone(bool ok) {
    if (!ok) return Finish(grpc::Status::OK);   // the client ended its side
    if (answer_.empty()) {
        std::string arb;
        uint64_t device = 0;
        if (!Arbitration(Flatten(in_), &arb, &device))
            return Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "arbitration first"));
        arb += std::string("\x22\x00", 2);   // status {} (code 0: OK): primary
        answer_ = "\x0a";
        for (uint64_t n = arb.size();; n >>= 7) {   // the field's length, a varint
            answer_ += static_cast<char>((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
            if (n <= 0x7f) break;
        }
        answer_ += arb;
        out_ = Buffer(answer_);
        registered_ = device == 1;
        StartWrite(&out_);
    }
    StartRead(&in_);   // packet-outs, arbitration again: read, ignored
}

void Stream::Flood() {
    flooding_ = true;
    next_ = 0;
    StartWrite(&sw_->flood()[next_++]);
}

void Stream::OnWriteDone(bool ok) {
    if (!ok) return;   // cancelled: OnDone follows
    if (!flooding_) {
        if (registered_) sw_->Latest(this);   // the arbitration answer is out
        registered_ = false;
        return;
    }
    if (next_ < sw_->flood().size()) {
        StartWrite(&sw_->flood()[next_++]);
        return;
    }
    flooding_ = false;
    sw_->Sent();
}

void Stream::OnDone() {
    sw_->Gone(this);
    if (flooding_) sw_->Sent();   // it went before the flood did: say so, not hang
    delete this;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: floodswitch FLOOD_FILE PIPELINE_FILE\n";
        return 2;
    }
    std::string data = ReadFile(argv[1]);
    std::vector<grpc::ByteBuffer> flood;
    for (size_t pos = 0; pos + 4 <= data.size();) {
        const auto* p = reinterpret_cast<const uint8_t*>(data.data() + pos);
        size_t n = static_cast<size_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
        if (n > data.size() - pos - 4) {
            std::cerr << "floodswitch: " << argv[1] << " is cut short\n";
            return 1;
        }
        flood.push_back(Buffer(data.substr(pos + 4, n)));
        pos += 4 + n;
    }
    Switch sw(std::move(flood), ReadFile(argv[2]));
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterCallbackGenericService(&sw);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server || port == 0) {
        std::cerr << "floodswitch: cannot listen\n";
        return 1;
    }
    std::cout << port << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line == "go") {
            sw.Go();
            sw.WaitSent();
            std::cout << "sent" << std::endl;
        }
    }
    server->Shutdown();
    return 0;
}
