defmodule Linx.Netfilter.Object do
  @moduledoc """
  A named stateful object of a table: a counter, quota, limit, conntrack helper,
  conntrack timeout policy, conntrack expectation, secmark or synproxy. Rules use it
  by name with `Linx.Netfilter.Expr.objref/2`.

      {:ok, c} = Linx.Netfilter.Object.new(:counter, "http")
      {:ok, q} = Linx.Netfilter.Object.new(:quota, "month", %{bytes: 10_000_000_000})
      {:ok, l} = Linx.Netfilter.Object.new(:limit, "syn", %{rate: 10, unit: :second})

  `data` per kind (missing keys take nft's defaults):

    * `:counter` — `%{packets: 0, bytes: 0}`
    * `:quota` — `%{bytes: n, over: false, consumed: 0}`
    * `:limit` — `%{rate: n, unit: :second | :minute | :hour | :day | :week,
      burst: 5 (packets) | 0 (bytes), type: :pkts | :bytes, over: false}`
    * `:ct_helper` — `%{type: "ftp", protocol: :tcp, l3proto: :ip | :ip6 | :inet}`
    * `:ct_timeout` — `%{protocol: :tcp | :udp | ..., l3proto: :ip, policy: %{established: 120, ...}}`
      (seconds per conntrack state; state names from nfnetlink_cttimeout.h)
    * `:ct_expectation` — `%{protocol: :tcp, l3proto: :ip, dport: 5060, timeout: ms, size: n}`
    * `:secmark` — `%{ctx: "system_u:object_r:..."}`
    * `:synproxy` — `%{mss: 1460, wscale: 7, flags: [:timestamp, :sack_perm]}`

  Malformed data is `{:error, {:bad_object, {:bad_data, kind, reason}}}`.
  """

  alias Linx.Netfilter.Type

  @enforce_keys [:kind, :name]
  defstruct kind: nil, name: nil, table: nil, data: nil, handle: nil, comment: nil

  @type kind ::
          :counter
          | :quota
          | :limit
          | :ct_helper
          | :ct_timeout
          | :ct_expectation
          | :secmark
          | :synproxy
  @type t :: %__MODULE__{
          kind: kind(),
          name: String.t(),
          table: String.t() | nil,
          data: map(),
          handle: non_neg_integer() | nil,
          comment: String.t() | nil
        }

  @kinds [:counter, :quota, :limit, :ct_helper, :ct_timeout, :ct_expectation, :secmark, :synproxy]
  @units %{second: 1, minute: 60, hour: 3600, day: 86_400, week: 604_800}
  @l3 %{ip: 2, ip6: 10, inet: 1}

  # nfnetlink_cttimeout.h: CTA_TIMEOUT_<PROTO>_<STATE> attribute numbers
  @timeout_states %{
    tcp: [
      syn_sent: 1,
      syn_recv: 2,
      established: 3,
      fin_wait: 4,
      close_wait: 5,
      last_ack: 6,
      time_wait: 7,
      close: 8,
      syn_sent2: 9,
      retrans: 10,
      unack: 11
    ],
    udp: [unreplied: 1, replied: 2],
    udplite: [unreplied: 1, replied: 2],
    icmp: [timeout: 1],
    icmpv6: [timeout: 1],
    dccp: [request: 1, respond: 2, partopen: 3, open: 4, closereq: 5, closing: 6, timewait: 7],
    sctp: [
      closed: 1,
      cookie_wait: 2,
      cookie_echoed: 3,
      established: 4,
      shutdown_sent: 5,
      shutdown_recd: 6,
      shutdown_ack_sent: 7,
      heartbeat_sent: 8
    ],
    gre: [unreplied: 1, replied: 2]
  }

  @doc "The object kinds."
  @spec kinds() :: [kind()]
  def kinds, do: @kinds

  @doc """
  Builds an object. Options: `:table`, `:handle`, `:comment`. Errors:
  `{:bad_object, {:unknown_kind, k} | :name_empty | {:bad_data, kind, reason}}`.
  """
  @spec new(kind(), String.t(), map() | keyword() | nil, keyword()) ::
          {:ok, t()} | {:error, {:bad_object, term()}}
  def new(kind, name, data \\ nil, opts \\ []) do
    cond do
      kind not in @kinds ->
        {:error, {:bad_object, {:unknown_kind, kind}}}

      not is_binary(name) or name == "" ->
        {:error, {:bad_object, :name_empty}}

      byte_size(name) > 255 or String.contains?(name, <<0>>) ->
        {:error, {:bad_object, {:bad_name, name}}}

      (c = opts[:comment]) != nil and not (is_binary(c) and byte_size(c) <= 253) ->
        {:error, {:bad_object, {:bad_comment, c}}}

      true ->
        case normalize(kind, Map.new(data || %{})) do
          {:ok, d} ->
            {:ok,
             %__MODULE__{
               kind: kind,
               name: name,
               data: d,
               table: opts[:table],
               handle: opts[:handle],
               comment: opts[:comment]
             }}

          {:error, why} ->
            {:error, {:bad_object, {:bad_data, kind, why}}}
        end
    end
  end

  @doc "Like `new/4`; raises `ArgumentError`."
  @spec new!(kind(), String.t(), map() | keyword() | nil, keyword()) :: t()
  def new!(kind, name, data \\ nil, opts \\ []) do
    case new(kind, name, data, opts) do
      {:ok, o} -> o
      {:error, reason} -> raise ArgumentError, "invalid object: #{inspect(reason)}"
    end
  end

  @doc false
  # The data map in its canonical form (also what the decoder produces).
  @spec normalize(kind(), map()) :: {:ok, map()} | {:error, String.t()}
  def normalize(:counter, d) do
    with {:ok, p} <- nonneg(d, :packets, 0), {:ok, b} <- nonneg(d, :bytes, 0) do
      only(d, [:packets, :bytes], %{packets: p, bytes: b})
    end
  end

  def normalize(:quota, d) do
    with {:ok, bytes} <- pos(d, :bytes),
         {:ok, consumed} <- nonneg(d, :consumed, 0),
         {:ok, over} <- bool(d, :over) do
      only(d, [:bytes, :consumed, :over], %{bytes: bytes, consumed: consumed, over: over})
    end
  end

  def normalize(:limit, d) do
    type = Map.get(d, :type, :pkts)

    with {:ok, rate} <- pos(d, :rate),
         {:ok, unit} <- unit(Map.get(d, :unit, :second)),
         true <- type in [:pkts, :bytes] || {:error, "type must be :pkts or :bytes"},
         {:ok, burst} <- nonneg(d, :burst, if(type == :pkts, do: 5, else: 0)),
         {:ok, over} <- bool(d, :over) do
      only(d, [:rate, :unit, :burst, :type, :over], %{
        rate: rate,
        unit: unit,
        burst: burst,
        type: type,
        over: over
      })
    end
  end

  def normalize(:ct_helper, d) do
    with {:ok, type} <- string(d, :type, 15),
         {:ok, proto} <- protocol(d),
         {:ok, l3} <- l3(d) do
      only(d, [:type, :protocol, :l3proto], %{type: type, protocol: proto, l3proto: l3})
    end
  end

  def normalize(:ct_timeout, d) do
    with {:ok, proto} <- protocol(d),
         {:ok, l3} <- l3(d),
         {:ok, policy} <- policy(proto, Map.get(d, :policy, %{})) do
      only(d, [:protocol, :l3proto, :policy], %{protocol: proto, l3proto: l3, policy: policy})
    end
  end

  def normalize(:ct_expectation, d) do
    with {:ok, proto} <- protocol(d),
         {:ok, l3} <- l3(d),
         {:ok, dport} <- nonneg(d, :dport, 0),
         {:ok, timeout} <- nonneg(d, :timeout, 0),
         {:ok, size} <- nonneg(d, :size, 0) do
      only(d, [:protocol, :l3proto, :dport, :timeout, :size], %{
        protocol: proto,
        l3proto: l3,
        dport: dport,
        timeout: timeout,
        size: size
      })
    end
  end

  def normalize(:secmark, d) do
    with {:ok, ctx} <- string(d, :ctx, 4095), do: only(d, [:ctx], %{ctx: ctx})
  end

  def normalize(:synproxy, d) do
    flags = Map.get(d, :flags, [])

    with {:ok, mss} <- nonneg(d, :mss, 0),
         {:ok, wscale} <- nonneg(d, :wscale, 0),
         true <-
           (is_list(flags) and Enum.all?(flags, &(&1 in [:timestamp, :sack_perm, :ecn]))) ||
             {:error, "synproxy flags are :timestamp, :sack_perm, :ecn"} do
      only(d, [:mss, :wscale, :flags], %{mss: mss, wscale: wscale, flags: Enum.sort(flags)})
    end
  end

  defp only(d, keys, result) do
    case Map.keys(d) -- keys do
      [] -> {:ok, result}
      bad -> {:error, "unknown key(s) #{inspect(bad)}"}
    end
  end

  defp nonneg(d, k, default) do
    case Map.get(d, k, default) do
      n when is_integer(n) and n >= 0 -> {:ok, n}
      other -> {:error, "#{k} must be a non-negative integer, got #{inspect(other)}"}
    end
  end

  defp pos(d, k) do
    case Map.get(d, k) do
      n when is_integer(n) and n > 0 -> {:ok, n}
      other -> {:error, "#{k} must be a positive integer, got #{inspect(other)}"}
    end
  end

  defp bool(d, k) do
    case Map.get(d, k, false) do
      b when is_boolean(b) -> {:ok, b}
      other -> {:error, "#{k} must be a boolean, got #{inspect(other)}"}
    end
  end

  defp string(d, k, max) do
    case Map.get(d, k) do
      s when is_binary(s) and s != "" and byte_size(s) <= max -> {:ok, s}
      other -> {:error, "#{k} must be a string of 1..#{max} bytes, got #{inspect(other)}"}
    end
  end

  defp unit(u) do
    if Map.has_key?(@units, u),
      do: {:ok, u},
      else: {:error, "unit must be one of #{inspect(Map.keys(@units))}, got #{inspect(u)}"}
  end

  defp protocol(d) do
    p = Map.get(d, :protocol, :tcp)

    case Type.protocol(p) do
      nil -> {:error, "protocol must be a protocol name or number, got #{inspect(p)}"}
      _ when is_atom(p) -> {:ok, p}
      n -> {:ok, proto_name(n)}
    end
  end

  defp proto_name(n) do
    Enum.find(~w(tcp udp udplite icmp icmpv6 dccp sctp gre)a, n, &(Type.protocol(&1) == n))
  end

  defp l3(d) do
    l = Map.get(d, :l3proto, :ip)

    if Map.has_key?(@l3, l),
      do: {:ok, l},
      else: {:error, "l3proto must be :ip, :ip6 or :inet, got #{inspect(l)}"}
  end

  defp policy(proto, policy) when is_map(policy) or is_list(policy) do
    states = Map.get(@timeout_states, proto, [])

    Enum.reduce_while(policy, {:ok, %{}}, fn
      {state, secs}, {:ok, acc} when is_integer(secs) and secs >= 0 ->
        if Keyword.has_key?(states, state),
          do: {:cont, {:ok, Map.put(acc, state, secs)}},
          else: {:halt, {:error, "unknown #{proto} timeout state #{inspect(state)}"}}

      other, _ ->
        {:halt, {:error, "bad timeout policy entry #{inspect(other)}"}}
    end)
  end

  defp policy(_proto, p),
    do: {:error, "policy must be a map of state => seconds, got #{inspect(p)}"}

  @doc false
  # Kind <-> NIF term: the codec's object type and data map (nf_tables.h attributes).
  @spec to_term(t()) :: {atom(), map()}
  def to_term(%__MODULE__{kind: :counter, data: d}), do: {:counter, d}

  def to_term(%__MODULE__{kind: :quota, data: d}),
    do: {:quota, %{bytes: d.bytes, consumed: d.consumed, flags: if(d.over, do: [:inv], else: [])}}

  def to_term(%__MODULE__{kind: :limit, data: d}) do
    {:limit,
     %{
       rate: d.rate,
       unit: Map.fetch!(@units, d.unit),
       burst: d.burst,
       type: d.type,
       flags: if(d.over, do: [:inv], else: [])
     }}
  end

  def to_term(%__MODULE__{kind: :ct_helper, data: d}),
    do: {:ct_helper, %{name: d.type, l3proto: @l3[d.l3proto], l4proto: Type.protocol(d.protocol)}}

  def to_term(%__MODULE__{kind: :ct_timeout, data: d}) do
    states = Map.get(@timeout_states, d.protocol, [])
    policy = for {s, secs} <- Enum.sort(d.policy), do: {Keyword.fetch!(states, s), secs}

    {:ct_timeout, %{l3proto: @l3[d.l3proto], l4proto: Type.protocol(d.protocol), policy: policy}}
  end

  def to_term(%__MODULE__{kind: :ct_expectation, data: d}) do
    {:ct_expect,
     %{
       l3proto: @l3[d.l3proto],
       l4proto: Type.protocol(d.protocol),
       dport: d.dport,
       timeout: d.timeout,
       size: d.size
     }}
  end

  def to_term(%__MODULE__{kind: :secmark, data: d}), do: {:secmark, d}

  def to_term(%__MODULE__{kind: :synproxy, data: d}) do
    flags = [:mss, :wscale] ++ d.flags
    {:synproxy, %{mss: d.mss, wscale: d.wscale, flags: Linx.Netfilter.Expr.sort_flags(flags)}}
  end

  @doc false
  # The object kind and canonical data from a decoded NEWOBJ (nil for kinds not modelled).
  @spec from_term(atom(), map()) :: {kind(), map()} | nil
  def from_term(:counter, d), do: {:counter, %{packets: d[:packets] || 0, bytes: d[:bytes] || 0}}

  def from_term(:quota, d),
    do:
      {:quota,
       %{bytes: d[:bytes] || 0, consumed: d[:consumed] || 0, over: :inv in (d[:flags] || [])}}

  def from_term(:limit, d) do
    unit = Enum.find_value(@units, :second, fn {u, s} -> if s == d[:unit], do: u end)

    {:limit,
     %{
       rate: d[:rate],
       unit: unit,
       burst: d[:burst] || 0,
       type: d[:type] || :pkts,
       over: :inv in (d[:flags] || [])
     }}
  end

  def from_term(:ct_helper, d) do
    {:ct_helper,
     %{type: d[:name], protocol: proto_name(d[:l4proto]), l3proto: l3_name(d[:l3proto])}}
  end

  def from_term(:ct_timeout, d) do
    proto = proto_name(d[:l4proto])
    states = Map.get(@timeout_states, proto, [])
    names = Map.new(states, fn {n, id} -> {id, n} end)

    policy =
      for {id, secs} <- d[:policy] || [],
          Map.has_key?(names, id),
          into: %{},
          do: {names[id], secs}

    {:ct_timeout, %{protocol: proto, l3proto: l3_name(d[:l3proto]), policy: policy}}
  end

  def from_term(:ct_expect, d) do
    {:ct_expectation,
     %{
       protocol: proto_name(d[:l4proto]),
       l3proto: l3_name(d[:l3proto]),
       dport: d[:dport] || 0,
       timeout: d[:timeout] || 0,
       size: d[:size] || 0
     }}
  end

  def from_term(:secmark, d), do: {:secmark, %{ctx: d[:ctx]}}

  def from_term(:synproxy, d) do
    flags = (d[:flags] || []) -- [:mss, :wscale]
    {:synproxy, %{mss: d[:mss] || 0, wscale: d[:wscale] || 0, flags: Enum.sort(flags)}}
  end

  def from_term(_, _), do: nil

  defp l3_name(n), do: Enum.find_value(@l3, :ip, fn {k, v} -> if v == n, do: k end)
end
