defmodule Linx.IP.SubnetTest do
  use ExUnit.Case, async: true

  import Bitwise
  import Linx.IP, only: [sigil_IP: 2]

  alias Linx.IP
  alias Linx.IP.Subnet

  doctest Linx.IP.Subnet

  @random_count 10_000
  @inspect_sample 300

  setup do
    :rand.seed(:exsss, {ExUnit.configuration()[:seed], 1, 2})
    :ok
  end

  describe "parse/1" do
    test "accepts ADDRESS/PREFIX and keeps the host bits" do
      for {input, address, prefix} <- [
            {"10.0.42.5/24", {10, 0, 42, 5}, 24},
            {"0.0.0.0/0", {0, 0, 0, 0}, 0},
            {"255.255.255.255/32", {255, 255, 255, 255}, 32},
            {"192.168.0.0/16", {192, 168, 0, 0}, 16},
            {"::/0", {0, 0, 0, 0, 0, 0, 0, 0}, 0},
            {"fd00::1/64", {0xFD00, 0, 0, 0, 0, 0, 0, 1}, 64},
            {"FD00:0:0:0:0:0:0:1/128", {0xFD00, 0, 0, 0, 0, 0, 0, 1}, 128},
            {"::ffff:10.0.0.0/104", {0, 0, 0, 0, 0, 0xFFFF, 0x0A00, 0}, 104},
            {"2001:db8::/32", {0x2001, 0xDB8, 0, 0, 0, 0, 0, 0}, 32}
          ] do
        assert {:ok, %Subnet{address: ip, prefix: ^prefix}} = Subnet.parse(input), input
        assert IP.to_tuple(ip) == address
        assert ip.zone == nil
      end
    end

    test "rejects everything else with {:bad_subnet, input}" do
      for input <- [
            "",
            "/",
            "10.0.0.0",
            "10.0.0.0/",
            "/24",
            "10.0.0.0/24/8",
            "10.0.0.0//24",
            # prefix out of range
            "10.0.0.0/33",
            "10.0.0.0/256",
            "::/129",
            "::/1000",
            # prefix not plain decimal
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/08",
            "10.0.0.0/00",
            "10.0.0.0/0x8",
            "10.0.0.0/8.0",
            "10.0.0.0/ 8",
            "10.0.0.0/8 ",
            " 10.0.0.0/8",
            "10.0.0.0 /8",
            "10.0.0.0/8\n",
            "10.0.0.0/255.0.0.0",
            "10.0.0.0/a",
            "10.0.0.0/٨",
            # bad address (strict, like Linx.IP.parse/1)
            "10.1/16",
            "010.0.0.0/8",
            "4294967295/32",
            "10.0.0.256/24",
            "[::1]/128",
            "fe80::1%eth0/64",
            "fe80::/64%eth0",
            "1::2::3/64",
            "garbage/8"
          ] do
        assert Subnet.parse(input) == {:error, {:bad_subnet, input}},
               "expected #{inspect(input)} to be rejected"
      end
    end

    test "raises ArgumentError naming a non-binary argument" do
      for bad <- [nil, ~c"10.0.0.0/8", {{10, 0, 0, 0}, 8}, ~IP"10.0.0.0"] do
        error = assert_raise ArgumentError, fn -> Subnet.parse(bad) end
        assert error.message =~ inspect(bad)
      end
    end
  end

  describe "parse!/1" do
    test "returns the subnet or raises ArgumentError naming the input" do
      assert Subnet.parse!("10.0.0.0/8") == %Subnet{address: ~IP"10.0.0.0", prefix: 8}
      assert_raise ArgumentError, ~r/"10.0.0.0\/33"/, fn -> Subnet.parse!("10.0.0.0/33") end
      assert_raise ArgumentError, fn -> Subnet.parse!(:nope) end
    end
  end

  describe "new/2" do
    test "builds a subnet for a prefix in range" do
      assert Subnet.new(~IP"10.1.2.3", 8) == {:ok, %Subnet{address: ~IP"10.1.2.3", prefix: 8}}
      assert {:ok, _} = Subnet.new(~IP"10.1.2.3", 0)
      assert {:ok, _} = Subnet.new(~IP"10.1.2.3", 32)
      assert {:ok, _} = Subnet.new(~IP"fd00::", 128)
    end

    test "rejects a prefix out of range or not an integer" do
      for {ip, prefix} <- [
            {~IP"10.0.0.0", 33},
            {~IP"10.0.0.0", -1},
            {~IP"::", 129},
            {~IP"::", 64.0},
            {~IP"::", "64"},
            {~IP"::", nil}
          ] do
        assert Subnet.new(ip, prefix) == {:error, {:bad_prefix, prefix}}
      end
    end

    test "raises ArgumentError for an address that is not a zone-less Linx.IP" do
      for bad <- ["10.0.0.0", {10, 0, 0, 0}, ~IP"fe80::1%eth0"] do
        assert_raise ArgumentError, fn -> Subnet.new(bad, 8) end
      end
    end
  end

  describe "contains?/2" do
    test "compares the first prefix bits" do
      s = ~IP"10.0.42.5/24"
      assert Subnet.contains?(s, ~IP"10.0.42.0")
      assert Subnet.contains?(s, ~IP"10.0.42.255")
      refute Subnet.contains?(s, ~IP"10.0.43.0")
      refute Subnet.contains?(s, ~IP"10.0.41.255")

      assert Subnet.contains?(~IP"0.0.0.0/0", ~IP"255.1.2.3")
      assert Subnet.contains?(~IP"10.0.0.1/32", ~IP"10.0.0.1")
      refute Subnet.contains?(~IP"10.0.0.1/32", ~IP"10.0.0.2")
      assert Subnet.contains?(~IP"10.0.0.0/9", ~IP"10.127.255.255")
      refute Subnet.contains?(~IP"10.0.0.0/9", ~IP"10.128.0.0")

      assert Subnet.contains?(~IP"fd00::/64", ~IP"fd00::ffff:1")
      assert Subnet.contains?(~IP"fd00::/64", ~IP"fd00::1%eth0")
      refute Subnet.contains?(~IP"fd00::/64", ~IP"fd00:0:0:1::")
      assert Subnet.contains?(~IP"::/0", ~IP"ffff::")
    end

    test "is false across families and for other argument shapes" do
      refute Subnet.contains?(~IP"10.0.0.0/8", ~IP"::ffff:10.0.0.1")
      refute Subnet.contains?(~IP"::/0", ~IP"10.0.0.1")
      refute Subnet.contains?(~IP"0.0.0.0/0", ~IP"::")
      refute Subnet.contains?(~IP"10.0.0.0/8", "10.0.0.1")
      refute Subnet.contains?(~IP"10.0.0.0/8", {10, 0, 0, 1})
      refute Subnet.contains?(~IP"10.0.0.0/8", ~IP"10.0.0.0/16")
      refute Subnet.contains?("10.0.0.0/8", ~IP"10.0.0.1")
      refute Subnet.contains?(nil, nil)
    end
  end

  describe "overlap?/2" do
    test "tells whether two subnets share an address" do
      assert Subnet.overlap?(~IP"10.0.0.0/8", ~IP"10.1.0.0/16")
      assert Subnet.overlap?(~IP"10.1.0.0/16", ~IP"10.0.0.0/8")
      assert Subnet.overlap?(~IP"10.0.0.0/24", ~IP"10.0.0.255/24")
      assert Subnet.overlap?(~IP"0.0.0.0/0", ~IP"1.2.3.4/32")
      refute Subnet.overlap?(~IP"10.0.0.0/24", ~IP"10.0.1.0/24")
      refute Subnet.overlap?(~IP"10.0.0.0/8", ~IP"11.0.0.0/8")
      assert Subnet.overlap?(~IP"fd00::/8", ~IP"fd12::/16")
      refute Subnet.overlap?(~IP"fd00::/16", ~IP"fd01::/16")
    end

    test "is false across families and for other argument shapes" do
      refute Subnet.overlap?(~IP"0.0.0.0/0", ~IP"::/0")
      refute Subnet.overlap?(~IP"10.0.0.0/8", ~IP"10.0.0.1")
      refute Subnet.overlap?("10.0.0.0/8", ~IP"10.0.0.0/8")
    end
  end

  describe "network/1, broadcast/1, netmask/1, size/1" do
    test "IPv4" do
      for {input, network, broadcast, netmask, size} <- [
            {"10.0.42.5/24", "10.0.42.0", "10.0.42.255", "255.255.255.0", 256},
            {"10.0.42.5/32", "10.0.42.5", "10.0.42.5", "255.255.255.255", 1},
            {"10.0.42.5/31", "10.0.42.4", "10.0.42.5", "255.255.255.254", 2},
            {"10.0.42.5/0", "0.0.0.0", "255.255.255.255", "0.0.0.0", 4_294_967_296},
            {"172.16.5.4/12", "172.16.0.0", "172.31.255.255", "255.240.0.0", 1_048_576},
            {"192.168.1.130/26", "192.168.1.128", "192.168.1.191", "255.255.255.192", 64}
          ] do
        s = Subnet.parse!(input)
        assert IP.to_string(Subnet.network(s)) == network, input
        assert IP.to_string(Subnet.broadcast(s)) == broadcast, input
        assert IP.to_string(Subnet.netmask(s)) == netmask, input
        assert Subnet.size(s) == size, input
      end
    end

    test "a /32 broadcast is the address itself" do
      s = ~IP"10.0.0.7/32"
      assert Subnet.broadcast(s) == s.address
      assert Subnet.network(s) == s.address
    end

    test "IPv6" do
      s = ~IP"fd00:1:2:3:4:5:6:7/64"
      assert Subnet.network(s) == ~IP"fd00:1:2:3::"
      assert Subnet.broadcast(s) == nil
      assert Subnet.netmask(s) == ~IP"ffff:ffff:ffff:ffff::"
      assert Subnet.size(s) == 1 <<< 64
      assert Subnet.size(~IP"::1/128") == 1
      assert Subnet.size(~IP"::/0") == 1 <<< 128
      assert Subnet.netmask(~IP"::/0") == ~IP"::"
      assert Subnet.network(~IP"::ffff:10.1.2.3/120") == ~IP"::ffff:10.1.2.0"
    end
  end

  describe "to_string/1, String.Chars, Inspect" do
    test "format the address as Linx.IP does, then the prefix" do
      assert Subnet.to_string(~IP"10.0.42.5/24") == "10.0.42.5/24"
      assert Subnet.to_string(~IP"FD00:0::1/64") == "fd00::1/64"
      assert Subnet.to_string(~IP"::2/127") == "::0.0.0.2/127"
      assert "route #{~IP"0.0.0.0/0"}" == "route 0.0.0.0/0"
      assert inspect(~IP"10.0.0.0/24") == ~s(~IP"10.0.0.0/24")
      assert inspect(~IP"::ffff:1.2.3.4/96") == ~s(~IP"::ffff:1.2.3.4/96")
    end

    test "Inspect falls back to the struct form for a malformed struct" do
      assert inspect(%Subnet{address: "10.0.0.0", prefix: 8}) =~ "%Linx.IP.Subnet{"
      assert inspect(%Subnet{address: ~IP"10.0.0.0", prefix: nil}) =~ "%Linx.IP.Subnet{"
    end
  end

  describe "compare/2" do
    test "orders by address, then prefix" do
      assert Subnet.compare(~IP"10.0.0.0/8", ~IP"10.0.0.0/16") == :lt
      assert Subnet.compare(~IP"10.0.0.0/16", ~IP"10.0.0.0/8") == :gt
      assert Subnet.compare(~IP"10.0.0.0/8", ~IP"10.0.0.0/8") == :eq
      assert Subnet.compare(~IP"10.0.0.1/32", ~IP"10.0.0.0/8") == :gt
      assert Subnet.compare(~IP"255.0.0.0/8", ~IP"::/0") == :lt

      list = [~IP"::/0", ~IP"10.0.0.0/16", ~IP"9.0.0.0/8", ~IP"10.0.0.0/8"]

      assert Enum.sort(list, Subnet) ==
               [~IP"9.0.0.0/8", ~IP"10.0.0.0/8", ~IP"10.0.0.0/16", ~IP"::/0"]
    end
  end

  # ---------------------------------------------------------------------------
  # Seeded random tests

  describe "random subnets" do
    test "parse/format round trip against an independent formatter" do
      for _ <- 1..@random_count do
        {tuple, prefix} = random_tuple_and_prefix()
        expected = List.to_string(:inet.ntoa(tuple)) <> "/" <> Integer.to_string(prefix)

        {:ok, subnet} = Subnet.new(IP.from_tuple(tuple), prefix)
        assert Subnet.to_string(subnet) == expected
        assert Subnet.parse(expected) == {:ok, subnet}
        assert Subnet.parse(String.upcase(expected)) == {:ok, subnet}
      end
    end

    test "network, broadcast, netmask, size and contains? agree with integer arithmetic" do
      for _ <- 1..@random_count do
        {tuple, prefix} = random_tuple_and_prefix()
        {:ok, s} = Subnet.new(IP.from_tuple(tuple), prefix)
        bits = bit_size(s.address.bytes)
        <<n::size(bits)>> = s.address.bytes
        host = (1 <<< (bits - prefix)) - 1
        net = n - (n &&& host)

        assert int(Subnet.network(s)) == net
        assert int(Subnet.netmask(s)) == (1 <<< bits) - 1 - host
        assert Subnet.size(s) == host + 1

        case s.address.family do
          :inet -> assert int(Subnet.broadcast(s)) == net + host
          :inet6 -> assert Subnet.broadcast(s) == nil
        end

        assert Subnet.contains?(s, s.address)
        assert Subnet.contains?(s, Subnet.network(s))
        if s.address.family == :inet, do: assert(Subnet.contains?(s, Subnet.broadcast(s)))
        assert Subnet.network(%Subnet{s | address: Subnet.network(s)}) == Subnet.network(s)

        other = random_same_family(s.address)
        <<m::size(bits)>> = other.bytes
        assert Subnet.contains?(s, other) == (m >>> (bits - prefix) == n >>> (bits - prefix))
        refute Subnet.contains?(s, random_other_family(s.address))

        {:ok, t} = Subnet.new(other, :rand.uniform(bits + 1) - 1)
        common = min(prefix, t.prefix)
        expected = m >>> (bits - common) == n >>> (bits - common)
        assert Subnet.overlap?(s, t) == expected
        assert Subnet.overlap?(t, s) == expected
      end
    end
  end

  describe "Inspect round trip" do
    test "inspect output evaluates back to the same value" do
      values =
        for _ <- 1..@inspect_sample do
          {tuple, prefix} = random_tuple_and_prefix()
          {:ok, subnet} = Subnet.new(IP.from_tuple(tuple), prefix)
          subnet
        end

      source =
        "import Linx.IP, only: [sigil_IP: 2]\n[" <> Enum.map_join(values, ", ", &inspect/1) <> "]"

      assert {^values, _} = Code.eval_string(source)
    end
  end

  # ---------------------------------------------------------------------------
  # Helpers

  defp int(%IP{bytes: bytes}) do
    bits = bit_size(bytes)
    <<n::size(bits)>> = bytes
    n
  end

  defp random_tuple_and_prefix do
    if :rand.uniform(2) == 1 do
      {List.to_tuple(for _ <- 1..4, do: random_octet()), random_prefix(32)}
    else
      {List.to_tuple(random_v6_groups()), random_prefix(128)}
    end
  end

  defp random_prefix(max) do
    case :rand.uniform(5) do
      1 -> Enum.random([0, max])
      _ -> :rand.uniform(max + 1) - 1
    end
  end

  defp random_octet do
    case :rand.uniform(4) do
      1 -> 0
      _ -> :rand.uniform(256) - 1
    end
  end

  defp random_v6_groups do
    case :rand.uniform(8) do
      1 -> [0, 0, 0, 0, 0, 0xFFFF, random_group(), random_group()]
      2 -> [0, 0, 0, 0, 0, 0, random_group(), random_group()]
      _ -> for _ <- 1..8, do: Enum.random([0, 0, 0, 1, random_group()])
    end
  end

  defp random_group, do: :rand.uniform(0x10000) - 1

  # Another address of the same family, often sharing a leading part with `ip`.
  defp random_same_family(%IP{bytes: bytes}) do
    bits = bit_size(bytes)
    keep = :rand.uniform(bits + 1) - 1
    <<head::bitstring-size(keep), _::bitstring>> = bytes
    tail_bits = bits - keep
    tail = :rand.uniform(1 <<< min(tail_bits, 60)) - 1

    IP.decode(<<head::bitstring, tail::size(tail_bits)>>)
  end

  defp random_other_family(%IP{family: :inet, bytes: bytes}),
    do: IP.decode(<<0::80, 0xFFFF::16, bytes::binary>>)

  defp random_other_family(%IP{family: :inet6, bytes: <<_::96, tail::binary>>}),
    do: IP.decode(tail)
end
